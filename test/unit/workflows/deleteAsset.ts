import { deleteAssetWorkflow } from '../../../workflows';
import type { Stubs, WorkflowTestEnv } from '../support/workflowEnv';

const ASSET = '0190a000-0000-7000-8000-0000000000a1';
const ACTOR = { sub: 'alice', roles: [] };

export function deleteAssetStubs(): Stubs {
  return {
    hideAssetForDeletion: jest.fn(async () => {}),
    abortAssetUploads: jest.fn(async () => ({ workflowIds: [], more: false })),
    deleteAssetObjects: jest.fn(async () => ({ deleted: 0, more: false })),
    deleteAssetRows: jest.fn(async () => {}),
  };
}

export const describeDeleteAssetWorkflow = (wf: WorkflowTestEnv) =>
  describe('deleteAssetWorkflow', () => {
    const run = (workflowId: string) =>
      wf.env.client.workflow.execute(deleteAssetWorkflow, { taskQueue: wf.taskQueue, workflowId, args: [{ assetId: ASSET, actor: ACTOR }] });

    it('hides the asset, ends its uploads batch by batch, deletes every batch of objects, then its rows', async () => {
      const a = wf.stub({
        ...deleteAssetStubs(),
        abortAssetUploads: jest
          .fn()
          .mockResolvedValueOnce({ workflowIds: ['upload-gone-1'], more: true })
          .mockResolvedValueOnce({ workflowIds: [], more: false }),
        deleteAssetObjects: jest.fn().mockResolvedValueOnce({ deleted: 500, more: true }).mockResolvedValueOnce({ deleted: 3, more: false }),
      });
      expect(await run('delete-batches')).toEqual({ objectsDeleted: 503 });
      expect(a.hideAssetForDeletion).toHaveBeenCalledWith(ASSET);
      expect(a.abortAssetUploads).toHaveBeenCalledTimes(2);
      expect(a.deleteAssetObjects).toHaveBeenCalledTimes(2);
      expect(a.deleteAssetRows).toHaveBeenCalledWith(ASSET, ACTOR);
      expect(a.hideAssetForDeletion.mock.invocationCallOrder[0]).toBeLessThan(a.abortAssetUploads.mock.invocationCallOrder[0]);
      expect(a.deleteAssetObjects.mock.invocationCallOrder[1]).toBeLessThan(a.deleteAssetRows.mock.invocationCallOrder[0]);
    });

    it('signals abort to each upload run still running, which then ends as aborted', async () => {
      const upload = await wf.env.client.workflow.start('uploadWorkflow', {
        taskQueue: wf.taskQueue,
        workflowId: 'upload-of-deleted-asset',
        args: [
          {
            uploadId: 'u1',
            assetId: ASSET,
            newAsset: false,
            versionId: 'v1',
            objectKey: 'k',
            expiresAt: new Date((await wf.env.currentTimeMs()) + 3_600_000).toISOString(),
            kind: 'tus',
            name: 'a',
            contentType: 'b',
            sizeBytes: 1,
          },
        ],
      });
      const a = wf.stub({
        ...deleteAssetStubs(),
        openUpload: jest.fn(async () => {}),
        discardUpload: jest.fn(async () => {}),
        abortAssetUploads: jest.fn(async () => ({ workflowIds: [upload.workflowId], more: false })),
      });
      await upload.executeUpdate('opened');
      expect(await run('delete-with-upload')).toEqual({ objectsDeleted: 0 });
      expect(await upload.result()).toMatchObject({ status: 'aborted' });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: 'u1', status: 'aborted', error: null, objectKey: 'k' });
    });
  });
