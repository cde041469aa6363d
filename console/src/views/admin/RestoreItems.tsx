/** A restore's assets, a page at a time: what it did with each (a dry run: what it would do). */
import { unwrap } from '../../api';
import { shortHash } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';

export function RestoreItems(props: { restoreId: string }) {
  const { api } = useConsole();
  const at = useCursor();
  const items = useResource(
    async (signal) =>
      unwrap(api.GET('/api/v2/restores/{id}/items', { params: { path: { id: props.restoreId }, query: { cursor: at.cursor, limit: 50 } }, signal })),
    [props.restoreId, at.cursor],
  );
  if (items.error !== undefined) return <ProblemNotice error={items.error} />;
  if (!items.data) return <p class="muted">Loading the restore's assets…</p>;
  if (items.data.items.length === 0) return <p class="muted">No asset listed one by one: the counts above say what it covers.</p>;
  return (
    <>
      <TableScroll label="The restore's assets">
        <table>
          <caption class="visually-hidden">The restore's assets</caption>
          <thead>
            <tr>
              <th scope="col">Asset</th>
              <th scope="col">Status</th>
              <th scope="col">Source</th>
              <th scope="col">SHA-256</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {items.data.items.map((item) => (
              <tr key={item.asset_id}>
                <th scope="row">
                  <Link to={`/assets/${item.asset_id}`}>
                    <code>{item.asset_id}</code>
                  </Link>
                </th>
                <td>{item.status}</td>
                <td>{item.source ?? '—'}</td>
                <td title={item.sha256 ?? undefined}>{shortHash(item.sha256)}</td>
                <td>{item.reason ?? (item.undeleted ? 'undeleted' : '')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <Pager at={at} nextCursor={items.data.next_cursor} label="restore assets" />
    </>
  );
}
