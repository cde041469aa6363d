/** Restore drills: the list, starting one (of a backup, or the newest completed), and a drill's result. */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatBytes, formatTime } from '../../components/format';
import { Link } from '../../components/Link';
import { Pager, useCursor } from '../../components/paging';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { TableScroll } from '../../components/TableScroll';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { useFollowedRun } from './polling';
import { RunFacts, RunStatus } from './RunStatus';
import { Status } from './Status';

function DrillResult(props: { id: string; onEnd(): void }) {
  const { api } = useConsole();
  const drill = useFollowedRun(
    async (signal) => unwrap(api.GET('/api/v2/restore-drills/{id}', { params: { path: { id: props.id } }, signal })),
    props.id,
    props.onEnd,
  );
  const d = drill.data;
  return (
    <section aria-label={`Drill ${props.id}`}>
      <h2>
        Drill <code>{props.id}</code>
      </h2>
      {drill.error !== undefined && <ProblemNotice error={drill.error} />}
      {d && (
        <>
          <RunStatus status={d.status} gaveUp={drill.gaveUp} error={d.error}>
            Checked {d.assets_checked} of {d.assets_total} sampled asset(s), {formatBytes(d.bytes_checked)}.
          </RunStatus>
          <RunFacts workflowId={d.workflow_id}>
            <dt>Backup</dt>
            <dd>{d.backup_id ? <Link to={`/admin/backups/${d.backup_id}`}>{d.backup_id}</Link> : '—'}</dd>
            <dt>Completed</dt>
            <dd>{formatTime(d.completed_at)}</dd>
          </RunFacts>
          {d.failures.length > 0 && (
            <>
              <h3>What did not restore</h3>
              <ul>
                {d.failures.map((f) => (
                  <li key={`${f.asset_id}-${f.version_id}`}>
                    <code>{f.asset_id}</code>
                    {f.version_id && (
                      <>
                        {' '}
                        version <code>{f.version_id}</code>
                      </>
                    )}
                    : {f.reason}
                  </li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}

export function DrillsView() {
  const { api } = useConsole();
  const at = useCursor();
  const [shown, setShown] = useState<string | null>(null);
  const [backupId, setBackupId] = useState('');
  const [error, setError] = useState<unknown>(null);
  const drills = useResource(
    async (signal) => unwrap(api.GET('/api/v2/restore-drills', { params: { query: { cursor: at.cursor, limit: 25 } }, signal })),
    [at.cursor],
  );
  // A second click while a start is in flight would be a second start (each call has its own Idempotency-Key).
  const [busy, setBusy] = useState(false);
  const start = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const drill = await unwrap(api.POST('/api/v2/restore-drills', { body: { backup_id: backupId.trim() || undefined } }));
      setShown(drill.id);
      at.first();
      drills.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1 tabIndex={-1}>Restore drills</h1>
      <form onSubmit={start} aria-labelledby="start-drill">
        <h2 id="start-drill">Start a drill</h2>
        <p class="muted">Restores a random sample of a backup into a scratch prefix, checks it byte for byte, and removes it.</p>
        <label for="drill-backup">Backup id (optional: the newest completed backup)</label>
        <input id="drill-backup" value={backupId} onInput={(e) => setBackupId(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Start drill
          </button>
        </div>
        {error !== null && <ProblemNotice error={error} title="The drill was not started" />}
      </form>
      {shown && <DrillResult id={shown} key={shown} onEnd={drills.reload} />}
      <h2>Drills</h2>
      {drills.error !== undefined && <ProblemNotice error={drills.error} />}
      {drills.data && drills.data.items.length === 0 && <p class="muted">No drills yet.</p>}
      {drills.data && drills.data.items.length > 0 && (
        <TableScroll label="Restore drills, newest first">
          <table>
            <caption class="visually-hidden">Restore drills, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col">Backup</th>
                <th scope="col" class="number">
                  Checked
                </th>
                <th scope="col">Run</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {drills.data.items.map((d) => (
                <tr key={d.id}>
                  <th scope="row">{formatTime(d.created_at)}</th>
                  <td>
                    <Status status={d.status} />
                  </td>
                  <td>{d.backup_id ? <Link to={`/admin/backups/${d.backup_id}`}>{d.backup_id}</Link> : '—'}</td>
                  <td class="number">
                    {d.assets_checked} / {d.assets_total}
                  </td>
                  <td>
                    <RunLink workflowId={d.workflow_id} />
                  </td>
                  <td>
                    <button type="button" onClick={() => setShown(d.id)} aria-label={`Show drill ${d.id}`} aria-pressed={shown === d.id}>
                      Show
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={drills.data?.next_cursor} label="drills" />
    </section>
  );
}
