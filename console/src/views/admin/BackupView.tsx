/** One backup: its facts, its progress followed live until it ends, its run, its restores and restoring it. */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatBytes, formatTime, shortHash } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { useConsole } from '../../context';
import { isFinal, usePolled } from './polling';
import { RestorePanel } from './RestorePanel';
import { RestoresList } from './RestoresList';
import { Status } from './Status';

export function BackupView(props: { params: Record<string, string> }) {
  const { api } = useConsole();
  const { id } = props.params;
  const [restores, setRestores] = useState(0);
  const backup = usePolled(
    async (signal) => unwrap(api.GET('/api/v2/backups/{id}', { params: { path: { id } }, signal })),
    (b) => isFinal(b.status),
    [id],
  );
  const b = backup.data;
  return (
    <section>
      <h1 tabIndex={-1}>Backup {b ? (b.label ?? b.id) : ''}</h1>
      <p>
        <Link to="/admin/backups">All backups</Link>
      </p>
      {backup.error !== undefined && <ProblemNotice error={backup.error} />}
      {b && (
        <>
          <div role="status" aria-live="polite">
            <p>
              <Status status={b.status} /> {b.status === 'completed' && `Completed ${formatTime(b.completed_at)}.`}
              {b.error && ` ${b.error}`}
              {backup.gaveUp && ' Still running: reload the page to follow it.'}
            </p>
          </div>
          <label for="backup-progress-objects">
            Objects: {b.progress.objects_done} of {b.progress.objects_total}
          </label>
          <progress id="backup-progress-objects" class="progress" max={Math.max(b.progress.objects_total, 1)} value={b.progress.objects_done} />
          <label for="backup-progress-bytes">
            Bytes: {formatBytes(b.progress.bytes_done)} of {formatBytes(b.progress.bytes_total)} ({formatBytes(b.progress.bytes_copied)} copied by this backup)
          </label>
          <progress id="backup-progress-bytes" class="progress" max={Math.max(b.progress.bytes_total, 1)} value={b.progress.bytes_done} />
          <dl class="facts">
            <dt>Id</dt>
            <dd>
              <code>{b.id}</code>
            </dd>
            <dt>Run</dt>
            <dd>
              <RunLink workflowId={b.workflow_id} />
            </dd>
            <dt>Scope</dt>
            <dd>
              {b.scope.asset_ids ? `${b.scope.asset_ids.length} asset(s)` : 'every asset'},{' '}
              {b.scope.include_all_versions ? 'every version' : 'current versions'}
            </dd>
            <dt>Trigger</dt>
            <dd>{b.trigger}</dd>
            <dt>Created</dt>
            <dd>{formatTime(b.created_at)}</dd>
            <dt>Started</dt>
            <dd>{formatTime(b.started_at)}</dd>
            <dt>Completed</dt>
            <dd>{formatTime(b.completed_at)}</dd>
            <dt>Holds</dt>
            <dd>
              {b.counts ? `${b.counts.assets} asset(s), ${b.counts.versions} version(s), ${b.counts.blobs} blob(s), ${formatBytes(b.counts.bytes)}` : '—'}
            </dd>
            <dt>Manifest</dt>
            <dd title={b.manifest_sha256 ?? undefined}>{b.manifest_key ? `${b.manifest_key} (${shortHash(b.manifest_sha256)})` : '—'}</dd>
            <dt>Expires</dt>
            <dd>{formatTime(b.expires_at)}</dd>
            <dt>Last proved restorable</dt>
            <dd>{b.verified_restore_at ? `${formatTime(b.verified_restore_at)} by drill ${b.verified_by_drill ?? ''}` : 'not yet'}</dd>
            {b.removed_at && (
              <>
                <dt>Removed</dt>
                <dd>{formatTime(b.removed_at)}: it can no longer be restored</dd>
              </>
            )}
          </dl>
          {b.status === 'completed' && !b.removed_at && <RestorePanel backupId={b.id} onChange={() => setRestores((n) => n + 1)} />}
          <RestoresList backupId={b.id} reloadKey={restores} />
        </>
      )}
    </section>
  );
}
