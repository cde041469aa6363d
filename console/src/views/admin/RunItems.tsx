/** What a lifecycle dry run would remove, in the order it found them, a page at a time. */
import { unwrap } from '../../api';
import { formatBytes } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';

const ACTION_TEXT = {
  abort_upload: 'abort the upload',
  purge_asset: 'delete the asset for good',
  expire_asset: 'soft-delete the asset',
  expire_version: 'delete the version',
} as const;

export function RunItems(props: { runId: string; reloadKey?: unknown }) {
  const { api } = useConsole();
  const at = useCursor();
  const items = useResource(
    async (signal) =>
      unwrap(api.GET('/api/v2/lifecycle/runs/{id}/items', { params: { path: { id: props.runId }, query: { cursor: at.cursor, limit: 50 } }, signal })),
    [props.runId, at.cursor, props.reloadKey],
  );
  if (items.error !== undefined) return <ProblemNotice error={items.error} />;
  if (!items.data) return <p class="muted">Loading what the run would remove…</p>;
  if (items.data.items.length === 0) return <p class="muted">Nothing to remove.</p>;
  return (
    <>
      <TableScroll label="What the dry run would remove">
        <table>
          <caption class="visually-hidden">What the dry run would remove</caption>
          <thead>
            <tr>
              <th scope="col">Would</th>
              <th scope="col">Asset</th>
              <th scope="col">Version or upload</th>
              <th scope="col" class="number">
                Frees
              </th>
            </tr>
          </thead>
          <tbody>
            {items.data.items.map((item, i) => (
              <tr key={`${item.asset_id}-${item.version_id}-${item.upload_id}-${i}`}>
                <th scope="row">{ACTION_TEXT[item.action]}</th>
                <td>{item.asset_id ? <code>{item.asset_id}</code> : '—'}</td>
                <td>{(item.version_id ?? item.upload_id) ? <code>{item.version_id ?? item.upload_id}</code> : '—'}</td>
                <td class="number">{formatBytes(item.size_bytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <Pager at={at} nextCursor={items.data.next_cursor} label="items" />
    </>
  );
}
