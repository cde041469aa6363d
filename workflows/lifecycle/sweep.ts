import {
  ChildWorkflowFailure,
  ParentClosePolicy,
  continueAsNew,
  executeChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { LifecycleActivities } from '../../activities/lifecycle';
import type { UploadActivities } from '../../activities/uploads/uploads';
import { deleteAssetWorkflow } from '../assets/deleteAsset';
import { deleteAssetOperation } from '../assets/definitions';
import { LifecycleFailure, lifecycleOperation, lifecycleWorkflowId, type LifecycleSweepInput, type LifecycleSweepResult } from './definitions';
import { assetIdAttribute, storageActor, storageOperation } from '../shared/searchAttributes';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';
import { signalUploadAbort } from '../uploads/abort';
import { uuidv7Now } from '../shared/uuidv7';
import { SYSTEM_ACTOR_REF, type ActorRef } from '../shared/actor';

// 30 attempts are about 13 minutes of backoff (docs/operations.md, "Retry bounds"): a step still failing then
// fails the run (its row says failed), and the next run takes what it left.
const retry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 30,
  nonRetryableErrorTypes: Object.values(LifecycleFailure),
};
const catalog = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '2 minutes', retry });
// The looping steps return after ~20 s; the heartbeat tells a stuck batch from a slow one.
const steps = proxyActivities<LifecycleActivities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '1 minute', retry });
// The tables' retention: a few attempts, then the next run tries again (it never holds the run up for good).
const housekeeping = proxyActivities<LifecycleActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, maximumAttempts: 3 },
});
const uploads = proxyActivities<UploadActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 30 },
});
const incompleteUploads = proxyActivities<UploadActivities>({ startToCloseTimeout: '2 minutes', retry: { initialInterval: '1s', maximumAttempts: 3 } });

/**
 * Applies the lifecycle policies and the global retention settings: old upload sessions aborted
 * (through their own workflows), old soft-deleted assets purged (deleteAssetWorkflow, as children),
 * stale assets soft-deleted, noncurrent versions expired. The run's row holds its progress, so the
 * workflow carries only the run id and its actor (its purges act for it), also across continue-as-new.
 */
export async function lifecycleSweepWorkflow(input: LifecycleSweepInput): Promise<LifecycleSweepResult> {
  // Before the schedule started scheduledLifecycleWorkflow, it started this workflow without a run: a
  // run begun so (test/fixtures/histories/lifecycle-scheduled-as-sweep.json) goes on the way it began.
  if (!input.runId) return scheduledLifecycleWorkflow();
  const { runId, historyLimit, actor } = input;
  return withFailureHandler(
    async () => {
      const begun = await catalog.beginLifecycleRun({ runId, asOf: new Date().toISOString() });
      const { dryRun } = begun;
      let { phase } = begun;
      while (phase !== 'done') {
        if (continueAsNewDue(historyLimit)) await continueAsNew<typeof lifecycleSweepWorkflow>({ runId, historyLimit, actor });
        if (phase === 'uploads') phase = await abortUploads(runId, dryRun);
        else if (phase === 'purge') phase = await purgeAssets(runId, dryRun, actor);
        else if (phase === 'assets') phase = (await steps.expireAssets(runId)).phase;
        else phase = (await steps.expireVersions(runId)).phase;
      }
      // Runs recorded before the tables had retention go on without it.
      if (patched('table-retention')) await pruneEndedTableRows(runId);
      // Multipart uploads left by writers that died, which no session owns (lib/uploads/incompleteUploads.ts):
      // bounded, and what a run leaves or fails to do, the next run's sweep takes.
      if (!dryRun && patched('abort-incomplete-uploads'))
        await incompleteUploads.abortIncompleteUploads().catch((err) => log.warn('incomplete uploads not swept', { error: messageOf(err) }));
      return { runId, counts: await catalog.completeLifecycleRun(runId) };
    },
    (err) => catalog.failLifecycleRun({ runId, error: messageOf(err) }),
  );
}

/**
 * What the storage-lifecycle schedule starts: a run made now (trigger `schedule`), then swept as its
 * child lifecycle-{run_id} like every other run, acting for the system.
 */
export async function scheduledLifecycleWorkflow(): Promise<LifecycleSweepResult> {
  const runId = uuidv7Now();
  await catalog.createScheduledRun(runId);
  return executeChild(lifecycleSweepWorkflow, {
    workflowId: lifecycleWorkflowId(runId),
    args: [{ runId, actor: SYSTEM_ACTOR_REF }],
    typedSearchAttributes: [storageOperation(lifecycleOperation), storageActor(SYSTEM_ACTOR_REF)],
  });
}

/** The ended rows past their retention go (a failure is logged: the next run tries again). */
async function pruneEndedTableRows(runId: string): Promise<void> {
  try {
    await housekeeping.pruneEndedTableRows(runId);
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('table retention failed; the next run tries again', { runId, error: messageOf(err) });
  }
}

/** One batch of old sessions: each is sent its workflow's abort signal. Answers the phase after it. */
async function abortUploads(runId: string, dryRun: boolean) {
  const batch = await catalog.nextUploadBatch(runId);
  if ('done' in batch) return batch.phase;
  if (!dryRun) {
    await Promise.all(
      batch.items.map(async ({ uploadId, workflowId }) => {
        if (await signalUploadAbort(workflowId)) return;
        // Its workflow is gone but the row still says open: end the session the way its workflow would.
        log.warn('upload workflow not found; discarding the session directly', { uploadId, workflowId });
        await uploads.discardUpload({ uploadId, status: 'aborted', error: null });
      }),
    );
  }
  await catalog.commitLifecycleBatch({ runId, phase: 'uploads', step: batch.step, cursor: batch.cursor, counts: { uploads_aborted: batch.items.length } });
  return batch.phase;
}

/** One batch of assets to purge, each by deleteAssetWorkflow as a child. Answers the phase after it. */
async function purgeAssets(runId: string, dryRun: boolean, actor: ActorRef | undefined) {
  const batch = await catalog.nextPurgeBatch(runId);
  if ('done' in batch) return batch.phase;
  let purged = batch.items;
  let failed = 0;
  if (!dryRun) {
    const outcomes = await Promise.all(batch.items.map((asset) => purgeAsset(asset, actor)));
    purged = batch.items.filter((_, i) => outcomes[i] === 'purged');
    failed = outcomes.filter((outcome) => outcome === 'failed').length;
  }
  await catalog.commitLifecycleBatch({
    runId,
    phase: 'purge',
    step: batch.step,
    cursor: batch.cursor,
    counts: { assets_purged: purged.length, bytes_freed: purged.reduce((sum, a) => sum + a.sizeBytes, 0), ...(failed ? { purges_failed: failed } : {}) },
  });
  return batch.phase;
}

/**
 * One asset's purge, as a child deleteAssetWorkflow: its steps' retries are bounded (10 minutes at
 * most each), so the wait for it is too. A purge that fails past them is counted and logged, not the
 * sweep's failure: its asset stays hidden and purging, and a later run picks it again. (Runs recorded
 * before failed purges were counted failed with them, and replay so.)
 */
async function purgeAsset(
  asset: { assetId: string; workflowId: string; deletedAt: string },
  actor: ActorRef | undefined,
): Promise<'purged' | 'skipped' | 'failed'> {
  try {
    // The purge re-checks that the asset is still a candidate (restored since: kept, not counted).
    const purge = await executeChild(deleteAssetWorkflow, {
      workflowId: asset.workflowId,
      args: [{ assetId: asset.assetId, actor, purge: { deletedBy: asset.deletedAt } }],
      // A purge that has begun finishes even if this sweep is stopped.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [assetIdAttribute(asset.assetId), storageOperation(deleteAssetOperation), storageActor(actor)],
    });
    return purge?.kept ? 'skipped' : 'purged';
  } catch (err) {
    // Already being deleted (DELETE ?permanent=true, or a sweep that was stopped): that run removes it.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'skipped';
    if (!(err instanceof ChildWorkflowFailure) || !patched('purge-failures-counted')) throw err;
    log.warn('purge failed past its retries; the asset stays hidden and a later run purges it', { assetId: asset.assetId, error: messageOf(err) });
    return 'failed';
  }
}
