import { proxyActivities } from '@temporalio/workflow';
import type { AssetDeletionActivities } from '../activities/assetDeletion';

const { hideAssetForDeletion, deleteAssetObjects, deleteAssetRows } = proxyActivities<AssetDeletionActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Permanently deletes an asset: hidden at once, then every object under its prefix, then its rows. */
export async function deleteAssetWorkflow(input: { assetId: string }): Promise<{ objectsDeleted: number }> {
  await hideAssetForDeletion(input.assetId);
  let objectsDeleted = 0;
  for (;;) {
    const batch = await deleteAssetObjects(input.assetId);
    objectsDeleted += batch.deleted;
    if (!batch.more) break;
  }
  await deleteAssetRows(input.assetId);
  return { objectsDeleted };
}
