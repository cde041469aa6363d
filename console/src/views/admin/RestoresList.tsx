/** The restores, newest first (of one backup when given), each opening onto its assets. */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatTime } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';
import { RestoreItems } from './RestoreItems';
import { Status } from './Status';

export function RestoresList(props: { backupId?: string; reloadKey?: unknown }) {
  const { api } = useConsole();
  const at = useCursor();
  const [open, setOpen] = useState<string | null>(null);
  const list = useResource(
    async (signal) => unwrap(api.GET('/api/v2/restores', { params: { query: { backup_id: props.backupId, cursor: at.cursor, limit: 25 } }, signal })),
    [props.backupId, at.cursor, props.reloadKey],
  );
  return (
    <section aria-labelledby="restores-heading">
      <h2 id="restores-heading">Restores</h2>
      {list.error !== undefined && <ProblemNotice error={list.error} />}
      {list.data && list.data.items.length === 0 && <p class="muted">No restores.</p>}
      {list.data && list.data.items.length > 0 && (
        <TableScroll label="Restores, newest first">
          <table>
            <caption class="visually-hidden">Restores, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Restore</th>
                <th scope="col">Backup</th>
                <th scope="col">Mode</th>
                <th scope="col">Status</th>
                <th scope="col" class="number">
                  Assets
                </th>
                <th scope="col">Created</th>
                <th scope="col">Run</th>
                <th scope="col">Assets one by one</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <code>{r.id}</code>
                    {r.dry_run && <span class="badge">dry run</span>}
                  </th>
                  <td>{r.backup_id ? <Link to={`/admin/backups/${r.backup_id}`}>{r.backup_id}</Link> : <span class="muted">point in time</span>}</td>
                  <td>{r.mode}</td>
                  <td>
                    <Status status={r.status} />
                  </td>
                  <td class="number">{r.progress.assets_total}</td>
                  <td>{formatTime(r.created_at)}</td>
                  <td>
                    <RunLink workflowId={r.workflow_id} />
                  </td>
                  <td>
                    <button
                      type="button"
                      aria-expanded={open === r.id}
                      onClick={() => setOpen(open === r.id ? null : r.id)}
                      aria-label={`${open === r.id ? 'Hide' : 'Show'} the assets of restore ${r.id}`}
                    >
                      {open === r.id ? 'Hide' : 'Show'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {open && (
        <section aria-label={`Assets of restore ${open}`}>
          <h3>
            Assets of restore <code>{open}</code>
          </h3>
          <RestoreItems restoreId={open} />
        </section>
      )}
      <Pager at={at} nextCursor={list.data?.next_cursor} label="restores" />
    </section>
  );
}
