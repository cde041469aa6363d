/** One restore followed until it ends: its counts, what it could not restore, and its assets. */
import { unwrap, type components } from '../../api';
import { formatBytes } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { useConsole } from '../../context';
import { isFinal, usePolled } from './polling';
import { RestoreItems } from './RestoreItems';
import { Status } from './Status';

type Restore = components['schemas']['Restore'];

export function RestoreRun(props: { id: string; heading: string; onEnd?: (restore: Restore) => void }) {
  const { api } = useConsole();
  const run = usePolled(
    async (signal) => unwrap(api.GET('/api/v2/restores/{id}', { params: { path: { id: props.id } }, signal })),
    (r) => {
      const final = isFinal(r.status);
      if (final) props.onEnd?.(r);
      return final;
    },
    [props.id],
  );
  const r = run.data;
  return (
    <section aria-label={props.heading}>
      <h3>{props.heading}</h3>
      {run.error !== undefined && <ProblemNotice error={run.error} />}
      {r && (
        <>
          <p role="status">
            <Status status={r.status} /> {r.dry_run ? 'Dry run: nothing is written.' : ''}{' '}
            {r.status === 'completed' &&
              (r.dry_run
                ? `The restore would go over ${r.progress.assets_total} asset(s) of the backup in ${r.mode} mode${r.mode === 'missing' ? ', writing only what the catalog lacks' : ''}.`
                : `Restored ${r.progress.assets_restored} asset(s), skipped ${r.progress.assets_skipped}.`)}
            {run.gaveUp && ' Still running: reload the page to follow it.'}
          </p>
          <dl class="facts">
            <dt>Run</dt>
            <dd>
              <RunLink workflowId={r.workflow_id} />
            </dd>
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
          </dl>
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
