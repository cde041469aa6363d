/** The backups: the list (by status, a page at a time) and taking one now. */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatBytes, formatTime } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { navigate } from '../../router';
import { idsOf } from './ids';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';
import { RestoresList } from './RestoresList';
import { Status } from './Status';

const STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
type JobStatus = (typeof STATUSES)[number];

function StartBackup() {
  const { api } = useConsole();
  const [label, setLabel] = useState('');
  const [assetIds, setAssetIds] = useState('');
  const [allVersions, setAllVersions] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const start = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { label: label.trim() || undefined, asset_ids: idsOf(assetIds), include_all_versions: allVersions };
      const backup = await unwrap(api.POST('/api/v2/backups', { body }));
      navigate(`/admin/backups/${backup.id}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={start} aria-labelledby="start-backup">
      <h2 id="start-backup">Start a backup</h2>
      <p class="muted">Leave the asset ids empty to back up every asset.</p>
      <label for="backup-label">Label</label>
      <input id="backup-label" value={label} onInput={(e) => setLabel(e.currentTarget.value)} placeholder="before the campaign reset" />
      <label for="backup-assets">Asset ids (optional)</label>
      <textarea id="backup-assets" rows={2} value={assetIds} onInput={(e) => setAssetIds(e.currentTarget.value)} />
      <label>
        <input type="checkbox" checked={allVersions} onChange={(e) => setAllVersions(e.currentTarget.checked)} /> Include every version, not only the current
        ones
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Start backup
        </button>
      </div>
      {error !== null && <ProblemNotice error={error} title="The backup was not started" />}
    </form>
  );
}

export function BackupsView() {
  const { api } = useConsole();
  const [status, setStatus] = useState<JobStatus | ''>('');
  const at = useCursor();
  const list = useResource(
    async (signal) => unwrap(api.GET('/api/v2/backups', { params: { query: { status: status || undefined, cursor: at.cursor, limit: 25 } }, signal })),
    [status, at.cursor],
  );
  return (
    <section>
      <h1 tabIndex={-1}>Backups</h1>
      <StartBackup />
      <h2>Backups</h2>
      <div class="filters">
        <label for="backup-status">Status</label>
        <select
          id="backup-status"
          value={status}
          onChange={(e) => {
            setStatus(e.currentTarget.value as JobStatus | '');
            at.first();
          }}
        >
          <option value="">Any</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      {list.error !== undefined && <ProblemNotice error={list.error} />}
      {list.data && (
        <TableScroll label="Backups, newest first">
          <table>
            <caption class="visually-hidden">Backups, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Backup</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col" class="number">
                  Assets
                </th>
                <th scope="col" class="number">
                  Size
                </th>
                <th scope="col">Run</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.length === 0 && (
                <tr>
                  <td colSpan={6} class="muted">
                    No backups{status ? ` ${status}` : ''}.
                  </td>
                </tr>
              )}
              {list.data.items.map((b) => (
                <tr key={b.id}>
                  <th scope="row">
                    <Link to={`/admin/backups/${b.id}`}>{b.label ?? b.id}</Link>
                  </th>
                  <td>
                    <Status status={b.status} />
                  </td>
                  <td>{formatTime(b.created_at)}</td>
                  <td class="number">{b.counts?.assets ?? '—'}</td>
                  <td class="number">{formatBytes(b.counts?.bytes ?? b.progress.bytes_total)}</td>
                  <td>
                    <RunLink workflowId={b.workflow_id} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={list.data?.next_cursor} label="backups" />
      <RestoresList />
    </section>
  );
}
