import { deleteAssetWorkflow } from '../../../workflows';
import { useWorkflowEnv } from '../support/workflowEnv';

const wf = useWorkflowEnv();
const ASSET = '0190a000-0000-7000-8000-0000000000a1';
const ACTOR = { sub: 'alice', roles: [] };

function stubs() {
  return {
    hideAssetForDeletion: jest.fn(async () => {}),
    abortAssetUploads: jest
      .fn()
      .mockResolvedValueOnce({ workflowIds: ['upload-gone-1'], more: true })
      .mockResolvedValueOnce({ workflowIds: [], more: false }),
    deleteAssetObjects: jest.fn().mockResolvedValueOnce({ deleted: 500, more: true }).mockResolvedValueOnce({ deleted: 3, more: false }),
    deleteAssetRows: jest.fn(async () => {}),
  };
}

describe('deleteAssetWorkflow', () => {
  it('hides the asset, ends its uploads batch by batch, deletes every batch of objects, then its rows', async () => {
    const a = stubs();
    const result = await wf.withWorker(a, (taskQueue) =>
      wf.env.client.workflow.execute(deleteAssetWorkflow, { taskQueue, workflowId: `delete-${ASSET}`, args: [{ assetId: ASSET, actor: ACTOR }] }),
    );
    expect(result).toEqual({ objectsDeleted: 503 });
    expect(a.hideAssetForDeletion).toHaveBeenCalledWith(ASSET);
    expect(a.abortAssetUploads).toHaveBeenCalledTimes(2);
    expect(a.deleteAssetObjects).toHaveBeenCalledTimes(2);
    expect(a.deleteAssetRows).toHaveBeenCalledWith(ASSET, ACTOR);
  });
});
