import { TypedSearchAttributes } from '@temporalio/common';
import type { deleteAssetWorkflow } from '../../workflows/assets/deleteAsset';
import { deleteAssetOperation, deleteAssetWorkflowId } from '../../workflows/assets/definitions';
import { waitAtMost } from '../platform/concurrency';
import { AssetIdAttribute, StorageOperationAttribute, type WorkflowAccess } from '../platform/temporal';

export type DeletionClient = Pick<WorkflowAccess, 'client' | 'taskQueue'>;

/** Starts (or joins) the permanent deletion of an asset and waits up to `waitMs` for it to finish. */
export async function deleteAssetPermanently(dc: DeletionClient, assetId: string, waitMs: number): Promise<{ done: boolean; workflowId: string }> {
  const workflowId = deleteAssetWorkflowId(assetId);
  const handle = await dc.client.workflow.start<typeof deleteAssetWorkflow>('deleteAssetWorkflow', {
    workflowId,
    taskQueue: dc.taskQueue,
    args: [{ assetId }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: AssetIdAttribute, value: assetId },
      { key: StorageOperationAttribute, value: deleteAssetOperation },
    ]),
  });
  const done = (await waitAtMost(handle.result(), waitMs)) !== undefined;
  return { done, workflowId };
}
