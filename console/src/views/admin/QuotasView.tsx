/**
 * Quotas per owner: look one up (their override, the limits in force, what they use) and set it. An
 * empty limit goes back to the default (STORAGE_QUOTA_*_PER_OWNER), which the page then shows in force.
 */
import { useEffect, useState } from 'preact/hooks';
import { unwrap, type components } from '../../api';
import { formatBytes } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';

type Usage = components['schemas']['Usage'];
interface Quota {
  owner_id: string;
  bytes: number | null;
  assets: number | null;
  quota: { bytes: number | null; assets: number | null };
}

const limitText = (n: number | null, bytes: boolean) => (n === null ? 'unlimited' : bytes ? `${formatBytes(n)} (${n} bytes)` : String(n));
const textOf = (n: number | null) => (n === null ? '' : String(n));
const limitOf = (text: string) => (text.trim() === '' ? null : Number(text));

function OwnerQuota(props: { ownerId: string }) {
  const { api } = useConsole();
  const [state, setState] = useState<{ quota: Quota; usage: Usage } | null>(null);
  const [bytes, setBytes] = useState('');
  const [assets, setAssets] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [said, setSaid] = useState('');
  const show = (quota: Quota, usage: Usage) => {
    setState({ quota, usage });
    setBytes(textOf(quota.bytes));
    setAssets(textOf(quota.assets));
  };
  // The view is keyed by its owner: one look-up per owner, dropped if another is asked meanwhile.
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    const owner_id = props.ownerId;
    Promise.all([
      unwrap(api.GET('/api/v2/quotas/{owner_id}', { params: { path: { owner_id } }, signal })),
      unwrap(api.GET('/api/v2/usage', { params: { query: { owner_id } }, signal })),
    ]).then(
      ([quota, usage]) => signal.aborted || show(quota, usage),
      (e: unknown) => signal.aborted || setError(e),
    );
    return () => controller.abort();
  }, []);
  const save = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setSaid('');
    try {
      const owner_id = props.ownerId;
      const usage = await unwrap(
        api.PUT('/api/v2/quotas/{owner_id}', { params: { path: { owner_id } }, body: { bytes: limitOf(bytes), assets: limitOf(assets) } }),
      );
      const quota = await unwrap(api.GET('/api/v2/quotas/{owner_id}', { params: { path: { owner_id } } }));
      show(quota, usage);
      setSaid(`Quota of ${owner_id} saved.`);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="quota-heading">
      <h2 id="quota-heading">
        Quota of <code>{props.ownerId}</code>
      </h2>
      {error !== null && <ProblemNotice error={error} />}
      {state && (
        <>
          <dl class="facts">
            <dt>Stored</dt>
            <dd>
              {formatBytes(state.usage.bytes_stored)} in {state.usage.assets} asset(s), {state.usage.versions} version(s)
            </dd>
            <dt>Reserved by uploads</dt>
            <dd>{formatBytes(state.usage.reserved_bytes)}</dd>
            <dt>Bytes limit in force</dt>
            <dd>
              {limitText(state.quota.quota.bytes, true)} {state.quota.bytes === null && <span class="badge">default</span>}
            </dd>
            <dt>Assets limit in force</dt>
            <dd>
              {limitText(state.quota.quota.assets, false)} {state.quota.assets === null && <span class="badge">default</span>}
            </dd>
          </dl>
          {state.usage.quota.bytes !== null && (
            <>
              <label for="quota-used">Bytes used of the limit</label>
              <progress
                id="quota-used"
                class="progress"
                max={Math.max(state.usage.quota.bytes, 1)}
                value={state.usage.bytes_stored + state.usage.reserved_bytes}
              />
            </>
          )}
          <form onSubmit={save} aria-label={`Set the quota of ${props.ownerId}`} noValidate>
            <p class="muted">Leave a limit empty for the default.</p>
            <label for="quota-bytes">Bytes limit</label>
            <input id="quota-bytes" type="number" inputMode="numeric" min={0} value={bytes} onInput={(e) => setBytes(e.currentTarget.value)} />
            <label for="quota-assets">Assets limit</label>
            <input id="quota-assets" type="number" inputMode="numeric" min={0} value={assets} onInput={(e) => setAssets(e.currentTarget.value)} />
            <div class="actions">
              <button type="submit" class="primary">
                Save quota
              </button>
            </div>
          </form>
        </>
      )}
      <p role="status">{said}</p>
    </section>
  );
}

export function QuotasView() {
  const [draft, setDraft] = useState('');
  const [owner, setOwner] = useState<string | null>(null);
  return (
    <section>
      <h1 tabIndex={-1}>Quotas</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setOwner(draft.trim() || null);
        }}
      >
        <label for="quota-owner">Owner</label>
        <input id="quota-owner" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="alice" />
        <button type="submit" class="primary">
          Look up
        </button>
      </form>
      {owner && <OwnerQuota ownerId={owner} key={owner} />}
    </section>
  );
}
