import type { deleteAssetWorkflow } from '../../workflows/assets/deleteAsset';
import { deleteAssetOperation, deleteAssetWorkflowId } from '../../workflows/assets/definitions';
import { waitAtMost } from '../platform/concurrency';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import { actorRef, type ActorRef } from '../auth/actor';

export type DeletionClient = Pick<WorkflowAccess, 'client' | 'taskQueue'>;

/**
 * Starts (or joins) the permanent deletion of an asset, acting for `actor`, and waits up to `waitMs`
 * for it to finish. A run joined keeps the actor it started with. `startUnder`, when given, is what
 * the start runs inside (lib/assets/assets.ts underAssetAt: the asset's row lock, at the ETag the
 * client's If-Match names), released before the wait.
 */
export async function deleteAssetPermanently(
  dc: DeletionClient,
  actor: ActorRef,
  assetId: string,
  waitMs: number,
  startUnder: <T>(start: () => Promise<T>) => Promise<T> = (start) => start(),
): Promise<{ done: boolean; workflowId: string }> {
  const workflowId = deleteAssetWorkflowId(assetId);
  const handle = await startUnder(() =>
    dc.client.workflow.start<typeof deleteAssetWorkflow>('deleteAssetWorkflow', {
      workflowId,
      taskQueue: dc.taskQueue,
      args: [{ assetId, actor: actorRef(actor) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: runSearchAttributes({ operation: deleteAssetOperation, actor, assetId }),
    }),
  );
  const done = (await waitAtMost(handle.result(), waitMs)) !== undefined;
  return { done, workflowId };
}
