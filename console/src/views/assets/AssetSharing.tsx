/**
 * Who else may read or change the asset: its grants, each revocable, and a new one for a user or a
 * group. The API takes the whole list (PUT, under If-Match), so every change sends all of them.
 */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';
import { isStale, type LoadedAsset } from './assetState';

type Grant = LoadedAsset['asset']['grants'][number];

export function AssetSharing(props: { loaded: LoadedAsset; onChanged(): void; onStale(): void }) {
  const { api } = useConsole();
  const { asset, etag } = props.loaded;
  const [kind, setKind] = useState<'user' | 'group'>('user');
  const [name, setName] = useState('');
  const [access, setAccess] = useState<'read' | 'write'>('read');
  const [error, setError] = useState<unknown>(undefined);
  const [said, setSaid] = useState('');
  const [busy, setBusy] = useState(false);

  const put = async (grants: Grant[], done: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await unwrap(api.PUT('/api/v2/assets/{id}/grants', { params: { path: { id: asset.id }, header: { 'If-Match': etag } }, body: grants }));
      setSaid(done);
      setName('');
      props.onChanged();
    } catch (err) {
      if (isStale(err)) props.onStale();
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  const add = (event: Event) => {
    event.preventDefault();
    const subject = `${kind}:${name.trim()}`;
    void put([...asset.grants.filter((g) => g.subject !== subject), { subject, access }], `Shared with ${subject} (${access})`);
  };

  return (
    <section aria-labelledby="asset-sharing">
      <h2 id="asset-sharing">Sharing</h2>
      {error !== undefined && <ProblemNotice error={error} title="Sharing was not changed" />}
      <p role="status" class="muted">
        {said}
      </p>
      {asset.grants.length === 0 ? (
        <p>Only its owner ({asset.owner_id}) and admins can see this asset.</p>
      ) : (
        <div class="table-scroll">
          <table class="row-heads">
            <thead>
              <tr>
                <th scope="col">Shared with</th>
                <th scope="col">Access</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {asset.grants.map((grant) => (
                <tr key={grant.subject}>
                  <th scope="row">{grant.subject}</th>
                  <td>{grant.access === 'write' ? 'read and write' : 'read'}</td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Revoke ${grant.subject}`}
                      disabled={busy}
                      onClick={() =>
                        void put(
                          asset.grants.filter((g) => g.subject !== grant.subject),
                          `Access of ${grant.subject} revoked`,
                        )
                      }
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form class="filters" onSubmit={add} aria-label="Share">
        <div>
          <label for="grant-kind">Share with a</label>
          <select id="grant-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as 'user' | 'group')}>
            <option value="user">user</option>
            <option value="group">group</option>
          </select>
        </div>
        <div>
          <label for="grant-name">{kind === 'user' ? 'User (their sub)' : 'Group name'}</label>
          <input id="grant-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div>
          <label for="grant-access">Access</label>
          <select id="grant-access" value={access} onChange={(e) => setAccess(e.currentTarget.value as 'read' | 'write')}>
            <option value="read">read</option>
            <option value="write">read and write</option>
          </select>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Share
          </button>
        </div>
      </form>
    </section>
  );
}
