/**
 * The trash: the caller's soft-deleted assets, each restored, or deleted for good once its name is
 * typed back. Both send the ETag read just before (If-Match), so what changes is the asset the user saw.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { followOperation } from '../../api';
import { StorageProblem, unwrap, type Api, type components } from '../../api';
import { formatBytes, formatTime } from '../../components/format';
import { Link } from '../../components/Link';
import { useCursor } from '../../components/paging';
import { ProblemNotice } from '../../components/ProblemNotice';
import { TableScroll } from '../../components/TableScroll';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';

type Asset = components['schemas']['Asset'];
const PAGE_SIZE = 50;

/** The deleted asset's ETag, for If-Match. */
async function etagOf(api: Api, id: string): Promise<string | undefined> {
  const { error, response } = await api.GET('/api/v2/assets/{id}', { params: { path: { id }, query: { include_deleted: 'true' } } });
  if (!response.ok) throw new StorageProblem(response.status, (error ?? {}) as Record<string, unknown>, response.headers.get('x-request-id'));
  return response.headers.get('etag') ?? undefined;
}

/** The typed confirmation of a permanent delete: the button waits for the asset's name, exactly. */
function ConfirmDelete(props: { asset: Asset; onDone(message: string): void; onCancel(): void }) {
  const { api } = useConsole();
  const { asset } = props;
  const [typed, setTyped] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const confirm = async (event: Event) => {
    event.preventDefault();
    if (typed !== asset.name) return;
    setError(undefined);
    setBusy('Deleting…');
    try {
      const etag = await etagOf(api, asset.id);
      const { error: problem, response } = await api.DELETE('/api/v2/assets/{id}', {
        params: { path: { id: asset.id }, query: { permanent: 'true' }, header: etag ? { 'If-Match': etag } : {} },
      });
      if (!response.ok) throw new StorageProblem(response.status, (problem ?? {}) as Record<string, unknown>, response.headers.get('x-request-id'));
      if (response.status === 202) {
        setBusy('Deleting every version… (the service is working on it)');
        const operation = await followOperation(api, response.headers.get('location')!);
        if (operation.status !== 'succeeded') {
          throw new StorageProblem(
            operation.error?.status ?? 500,
            { title: operation.error?.title ?? `Deletion ${operation.status}`, detail: operation.error?.detail },
            null,
          );
        }
      }
      props.onDone(`${asset.name} was deleted permanently.`);
    } catch (err) {
      setError(err);
      setBusy(null);
    }
  };
  const inputId = `confirm-${asset.id}`;
  return (
    <form class="notice notice-error confirm-delete" onSubmit={confirm}>
      <h2>Delete {asset.name} permanently?</h2>
      <p>Every version of it is removed from storage. This cannot be undone.</p>
      <label for={inputId}>
        Type <strong class="confirm-name">{asset.name}</strong> to confirm
      </label>
      <input
        ref={input}
        id={inputId}
        type="text"
        autoComplete="off"
        spellcheck={false}
        value={typed}
        onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)}
      />
      <div class="actions">
        <button type="submit" class="danger primary" disabled={typed !== asset.name || busy !== null}>
          Delete permanently
        </button>
        <button type="button" onClick={props.onCancel} disabled={busy !== null}>
          Cancel
        </button>
        {busy && <span role="status">{busy}</span>}
      </div>
      {error !== undefined && <ProblemNotice error={error} title={`${asset.name} was not deleted`} />}
    </form>
  );
}

export function TrashView() {
  const { api, session } = useConsole();
  const at = useCursor();
  const { cursor } = at;
  const page = useResource(
    () =>
      unwrap(
        api.GET('/api/v2/assets', {
          params: { query: { owner_id: session.sub, only_deleted: 'true', limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
        }),
      ),
    [cursor],
  );
  const [confirming, setConfirming] = useState<Asset | null>(null);
  const [said, setSaid] = useState<{ message: string; assetId?: string } | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [restoring, setRestoring] = useState<string | null>(null);

  const restore = async (asset: Asset) => {
    setError(undefined);
    setSaid(null);
    setRestoring(asset.id);
    try {
      const etag = await etagOf(api, asset.id);
      await unwrap(api.POST('/api/v2/assets/{id}/restore', { params: { path: { id: asset.id }, header: etag ? { 'If-Match': etag } : {} } }));
      setSaid({ message: `${asset.name} was restored.`, assetId: asset.id });
      page.reload();
    } catch (err) {
      setError(err);
    } finally {
      setRestoring(null);
    }
  };
  const deleted = (message: string) => {
    setConfirming(null);
    setSaid({ message });
    page.reload();
  };

  const items = page.data?.items ?? [];
  return (
    <section>
      <h1 tabIndex={-1}>Trash</h1>
      <p class="muted">Your deleted assets. They still count against your quota until they are deleted permanently (or a lifecycle policy removes them).</p>
      <div role="status">
        {said && (
          <p class="notice notice-ok">
            {said.message} {said.assetId && <Link to={`/assets/${said.assetId}`}>Open it</Link>}
          </p>
        )}
      </div>
      {error !== undefined && <ProblemNotice error={error} />}
      {page.error !== undefined && <ProblemNotice error={page.error} title="The trash cannot be read" />}
      {page.loading && !page.data && <p role="status">Loading…</p>}
      {page.data && items.length === 0 && <p>{at.page > 1 ? 'No more deleted assets.' : 'The trash is empty.'}</p>}
      {items.length > 0 && (
        <TableScroll label="Deleted assets">
          <table>
            <caption class="visually-hidden">Deleted assets</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="number">
                  Size
                </th>
                <th scope="col">Deleted</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((asset) => (
                <tr key={asset.id}>
                  <th scope="row">{asset.name}</th>
                  <td class="number">{formatBytes(asset.size_bytes)}</td>
                  <td>{formatTime(asset.deleted_at)}</td>
                  <td>
                    <div class="actions trash-actions">
                      <button type="button" aria-label={`Restore ${asset.name}`} disabled={restoring !== null} onClick={() => void restore(asset)}>
                        Restore
                      </button>
                      <button type="button" class="danger" aria-label={`Delete permanently: ${asset.name}`} onClick={() => setConfirming(asset)}>
                        Delete permanently…
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {confirming && <ConfirmDelete key={confirming.id} asset={confirming} onDone={deleted} onCancel={() => setConfirming(null)} />}
      <div class="actions">
        <button type="button" disabled={at.page === 1} onClick={at.previous}>
          Previous page
        </button>
        <button type="button" disabled={!page.data?.next_cursor} onClick={() => at.next(page.data!.next_cursor!)}>
          Next page
        </button>
      </div>
    </section>
  );
}
