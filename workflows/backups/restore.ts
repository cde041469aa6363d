import { ApplicationFailure, continueAsNew, proxyActivities, setHandler } from '@temporalio/workflow';
import type { RestoreActivities } from '../../activities/backups/restore';
import { BackupFailure, EMPTY_RESTORE_PROGRESS, restoreStatusQuery, type RestoreInput, type RestoreState } from './definitions';
import { backupCatalogSteps, backupStreamingSteps } from './backup';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';

const catalog = proxyActivities<RestoreActivities>(backupCatalogSteps);
const steps = proxyActivities<RestoreActivities>(backupStreamingSteps);

/**
 * restore-{restore_id}: checks the backup's manifest, then restores its assets a step at a time
 * (each asset: blobs copied back and verified, rows re-created with their events). An asset that
 * cannot be restored fails alone; if any did, the restore ends failed, naming them. Answers
 * `restoreStatus` with its live progress.
 */
export async function restoreWorkflow(input: RestoreInput): Promise<RestoreState> {
  const { restoreId, tuning, actor } = input;
  const state: RestoreState = {
    status: input.resume ? 'running' : 'pending',
    progress: { ...EMPTY_RESTORE_PROGRESS, assets_total: input.resume?.assetsTotal ?? 0 },
    error: null,
  };
  setHandler(restoreStatusQuery, () => state);

  async function finish(assetsTotal: number, dryRun: boolean): Promise<RestoreState> {
    const finished = await catalog.finishRestore({ restoreId, assetsTotal, ...(dryRun ? { dryRun } : {}) });
    state.progress = finished.progress;
    state.error = finished.error;
    state.status = finished.status;
    if (finished.status === 'failed') {
      // The run fails too, so an operator filtering failed runs in the Temporal UI finds it.
      throw ApplicationFailure.create({ type: BackupFailure.restoreIncomplete, message: finished.error ?? 'restore failed', nonRetryable: true });
    }
    return state;
  }

  return withFailureHandler(
    async () => {
      let position = input.resume;
      if (!position) {
        const begun = await steps.beginRestore(restoreId);
        if (begun.status !== 'running') {
          state.status = begun.status;
          return state;
        }
        position = { cursor: begun.cursor, end: begun.end, assetsTotal: begun.assetsTotal };
        state.progress.assets_total = begun.assetsTotal;
        state.status = 'running';
        // A dry run has counted what it would restore (and failed what the backup lacks): it writes no asset.
        if (begun.dryRun) return finish(position.assetsTotal, true);
      }
      for (;;) {
        if (continueAsNewDue(tuning?.historyLimit)) await continueAsNew<typeof restoreWorkflow>({ restoreId, tuning, actor, resume: position });
        const step: { cursor: number; done: boolean; progress: RestoreState['progress'] } = await steps.restoreBackupAssets({ restoreId, ...position, tuning });
        state.progress = step.progress;
        position = { ...position, cursor: step.cursor };
        if (step.done) break;
      }
      return finish(position.assetsTotal, false);
    },
    async (err) => {
      // A restore whose assets failed has recorded that already.
      if (state.status === 'failed') return;
      const error = messageOf(err);
      state.error = error;
      state.status = 'failed';
      await catalog.failRestore({ restoreId, error });
    },
  );
}
