import { proxyActivities } from '@temporalio/workflow';
import type { AssetDeletionActivities } from '../../activities/assets';
import type { DeleteAssetInput, DeleteAssetResult } from './definitions';
import { signalUploadAbort } from '../uploads/abort';

const { hideAssetForDeletion, abortAssetUploads, deleteAssetObjects, deleteAssetRows } = proxyActivities<AssetDeletionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
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
