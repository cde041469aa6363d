import { proxyActivities } from '@temporalio/workflow';
import type { AssetDeletionActivities } from '../../activities/assets';
import { DeletionFailure, type DeleteAssetInput, type DeleteAssetResult } from './definitions';
import { signalUploadAbort } from '../uploads/abort';

// Every step heartbeats while it runs (activities/assets.ts), so a worker that dies mid-step is noticed
// within the heartbeat timeout, not the step's whole 2 minutes. Retries are bounded (docs/operations.md, "Retry
// bounds"): about a minute of backoff, 10 minutes in all. A step still failing then fails the run; the
// asset stays hidden and purging (reads 404, restores refused), and a later DELETE ?permanent=true or a
// lifecycle sweep whose purge_deleted rule covers it starts its deletion again (each step is idempotent).
const { hideAssetForDeletion, abortAssetUploads, deleteAssetObjects, deleteAssetRows } = proxyActivities<AssetDeletionActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 8, nonRetryableErrorTypes: Object.values(DeletionFailure) },
});

/**
 * Permanently deletes an asset: hidden at once, its unfinished uploads of new versions ended, then
 * every object under its prefix, then its rows. A lifecycle purge first re-checks, under the asset's
 * lock, that it is still a candidate, and leaves it alone otherwise (restored by its owner meanwhile).
 */
export async function deleteAssetWorkflow(input: DeleteAssetInput): Promise<DeleteAssetResult> {
  const kept = input.purge ? await hideAssetForDeletion(input.assetId, input.purge) : await hideAssetForDeletion(input.assetId);
  if (kept) return { objectsDeleted: 0, kept: kept.kept };
  for (;;) {
    const uploads = await abortAssetUploads(input.assetId);
    // Their bytes and sessions are gone already: the signal ends each run, and a run that has ended needs nothing.
    await Promise.all(uploads.workflowIds.map(signalUploadAbort));
    if (!uploads.more) break;
  }
  let objectsDeleted = 0;
  for (;;) {
    const batch = await deleteAssetObjects(input.assetId);
    objectsDeleted += batch.deleted;
    if (!batch.more) break;
  }
  await deleteAssetRows(input.assetId, input.actor);
  return { objectsDeleted };
}
