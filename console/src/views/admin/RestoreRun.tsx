/** One restore followed until it ends: its counts, what it could not restore, and its assets. */
import { unwrap, type components } from '../../api';
import { formatBytes } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useConsole } from '../../context';
import { isFinal, useFollowedRun } from './polling';
import { RunFacts, RunStatus } from './RunStatus';
import { RestoreItems } from './RestoreItems';

type Restore = components['schemas']['Restore'];

export function RestoreRun(props: { id: string; heading: string; onEnd?: (restore: Restore) => void }) {
  const { api } = useConsole();
  const run = useFollowedRun(async (signal) => unwrap(api.GET('/api/v2/restores/{id}', { params: { path: { id: props.id } }, signal })), props.id, props.onEnd);
  const r = run.data;
  return (
    <section aria-label={props.heading}>
      <h3>{props.heading}</h3>
      {run.error !== undefined && <ProblemNotice error={run.error} />}
      {r && (
        <>
          <RunStatus status={r.status} gaveUp={run.gaveUp}>
            {r.dry_run ? 'Dry run: nothing is written.' : ''}{' '}
            {r.status === 'completed' &&
              (r.dry_run
                ? `The restore would go over ${r.progress.assets_total} asset(s) of the backup in ${r.mode} mode${r.mode === 'missing' ? ', writing only what the catalog lacks' : ''}.`
                : `Restored ${r.progress.assets_restored} asset(s), skipped ${r.progress.assets_skipped}.`)}
          </RunStatus>
          <RunFacts workflowId={r.workflow_id}>
            <dt>Assets</dt>
            <dd>
              {r.progress.assets_done} of {r.progress.assets_total} ({r.progress.assets_restored} restored, {r.progress.assets_skipped} skipped,{' '}
              {r.progress.assets_failed} failed)
            </dd>
            <dt>Bytes</dt>
            <dd>
              {formatBytes(r.progress.bytes_done)} ({formatBytes(r.progress.bytes_copied)} copied)
            </dd>
            {r.error && (
              <>
                <dt>Error</dt>
                <dd>{r.error}</dd>
              </>
            )}
          </RunFacts>
          {r.failed_assets && r.failed_assets.length > 0 && (
            <>
              <h4>{r.dry_run ? 'What the backup lacks' : 'Not restored'}</h4>
              <ul>
                {r.failed_assets.map((f) => (
                  <li key={f.asset_id}>
                    <code>{f.asset_id}</code>: {f.error}
                  </li>
                ))}
              </ul>
            </>
          )}
          {isFinal(r.status) && <RestoreItems restoreId={r.id} />}
        </>
      )}
    </section>
  );
}
