import {
  ApplicationFailure,
  ParentClosePolicy,
  continueAsNew,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { PointInTimeActivities } from '../../activities/backups/pointInTime';
import type { RestoreActivities } from '../../activities/backups/restore';
import { BackupFailure, EMPTY_RESTORE_PROGRESS, restoreStatusQuery, type RestoreState } from './definitions';
import type { PointInTimeInput, PointInTimeWrite } from './pointInTimeDefinitions';
import { uploadWorkflow } from '../uploads/workflow';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';
import { assetIdAttribute, storageActor, storageOperation } from '../shared/searchAttributes';

// Bounded like the backup steps: a step that still fails past them fails the restore, which says why.
const retry: ActivityOptions['retry'] = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 };
const catalog = proxyActivities<PointInTimeActivities & Pick<RestoreActivities, 'failRestore'>>({ startToCloseTimeout: '1 minute', retry });
// A step reads manifests of the backup bucket for the assets its versions do not reach back for: it heartbeats per asset.
const steps = proxyActivities<PointInTimeActivities>({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', retry });

/**
 * restore-{restore_id}, a restore to a point in time (lib/backups/pointInTime.ts): the assets its
 * filter matches, a page at a time, by id; each asset that needs new bytes gets them from a copy
 * upload (uploadWorkflow, upload-{id}, as a child that outlives a cancelled restore), which verifies,
 * commits and records them as every upload does. Answers `restoreStatus` with its live progress; an
 * asset that could not be restored fails alone, and the restore ends failed naming it.
 */
export async function pointInTimeRestoreWorkflow(input: PointInTimeInput): Promise<RestoreState> {
  const { restoreId } = input;
  const state: RestoreState = { status: input.resume ? 'running' : 'pending', progress: { ...EMPTY_RESTORE_PROGRESS }, error: null };
  setHandler(restoreStatusQuery, () => state);
  return withFailureHandler(
    async () => {
      if (!input.resume) {
        const begun = await catalog.beginPointInTimeRestore(restoreId);
        state.status = begun.status;
        if (begun.status !== 'running') return state;
      }
      let after = input.resume?.after ?? null;
      for (;;) {
        if (continueAsNewDue(input.historyLimit)) await continueAsNew<typeof pointInTimeRestoreWorkflow>({ ...input, resume: { after } });
        const step = await steps.pointInTimeStep({ restoreId, after });
        state.progress = step.progress;
        for (const write of step.writes) state.progress = await restoreOne(input, write);
        if (step.next === null) break;
        after = step.next;
      }
      const finished = await catalog.finishPointInTimeRestore(restoreId);
      Object.assign(state, finished);
      if (finished.status === 'failed') {
        throw ApplicationFailure.create({ type: BackupFailure.restoreIncomplete, message: finished.error ?? 'restore failed', nonRetryable: true });
      }
      return state;
    },
    async (err) => {
      if (state.status === 'failed') return;
      state.error = messageOf(err);
      state.status = 'failed';
      await catalog.failRestore({ restoreId, error: state.error });
    },
  );
}

/** The asset's copy upload, run to its end (unless it exists already), then its outcome recorded. */
async function restoreOne(input: PointInTimeInput, write: PointInTimeWrite) {
  const { upload, ...recorded } = write;
  let uploadError: string | undefined;
  if (upload) {
    try {
      const ended = await executeChild(uploadWorkflow, {
        // The id every upload's run has (lib/uploads/sessions.ts uploadWorkflowId).
        workflowId: `upload-${write.uploadId}`,
        args: [upload],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [storageOperation('upload'), storageActor(input.actor), assetIdAttribute(write.assetId)],
      });
      if (ended.status !== 'completed') uploadError = ended.error ?? `its upload ended ${ended.status}`;
    } catch (err) {
      // Started before, or failed: its session says how it ended, or (none opened) the failure does.
      if (isCancellation(err)) throw err;
      uploadError = messageOf(err);
    }
  }
  return catalog.recordPointInTimeWrite({ restoreId: input.restoreId, ...recorded, ...(uploadError ? { uploadError } : {}) });
}
