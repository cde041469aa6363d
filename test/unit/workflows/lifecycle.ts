import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { lifecycleSweepWorkflow } from '../../../workflows';
import { LifecycleFailure } from '../../../workflows/lifecycle/definitions';
import type { Stubs, WorkflowTestEnv } from '../support/workflowEnv';
import { deleteAssetStubs } from './deleteAsset';

const COUNTS = { versions_expired: 1, assets_expired: 2, assets_purged: 3, uploads_aborted: 4, bytes_freed: 5 };
const ACTOR = { sub: 'root', roles: ['storage:admin' as const] };
const cursor = { at: '2026-01-01T00:00:00Z', id: 'x' };

/** A run that goes through every phase once: one batch of uploads, one of purges, then assets and versions. */
export function lifecycleStubs(): Stubs {
  return {
    createScheduledRun: jest.fn(async () => {}),
    beginLifecycleRun: jest.fn(async () => ({ phase: 'uploads', dryRun: false })),
    nextUploadBatch: jest
      .fn()
      .mockResolvedValueOnce({ phase: 'uploads', dryRun: false, step: 0, cursor, items: [{ uploadId: 'u-gone', workflowId: 'upload-u-gone' }] })
      .mockResolvedValue({ phase: 'purge', done: true }),
    nextPurgeBatch: jest
      .fn()
      .mockResolvedValueOnce({
        phase: 'purge',
        dryRun: false,
        step: 1,
        cursor,
        items: [{ assetId: 'a1', workflowId: 'delete-asset-a1', sizeBytes: 7, deletedAt: '2026-11-01T00:00:00.000000Z' }],
      })
      .mockResolvedValue({ phase: 'assets', done: true }),
    commitLifecycleBatch: jest.fn(async () => {}),
    expireAssets: jest.fn(async () => ({ phase: 'versions', processed: 2 })),
    expireVersions: jest.fn(async () => ({ phase: 'done', processed: 1 })),
    completeLifecycleRun: jest.fn(async () => COUNTS),
    failLifecycleRun: jest.fn(async () => {}),
    discardUpload: jest.fn(async () => {}),
    pruneEndedTableRows: jest.fn(async () => ({})),
    abortIncompleteUploads: jest.fn(async () => ({ aborted: 0, owned: 0, failed: 0 })),
    ...deleteAssetStubs(),
  };
}

export const describeLifecycleSweepWorkflow = (wf: WorkflowTestEnv) =>
  describe('lifecycleSweepWorkflow', () => {
    let runs = 0;
    const sweep = (input: Partial<Parameters<typeof lifecycleSweepWorkflow>[0]> = {}) =>
      wf.env.client.workflow.execute(lifecycleSweepWorkflow, {
        taskQueue: wf.taskQueue,
        workflowId: `lifecycle-${++runs}`,
        args: [{ runId: `run-${runs}`, actor: ACTOR, ...input }],
      });

    it('goes through every phase: aborts old uploads (discarding one whose run is gone), purges by child deletions, expires, completes', async () => {
      const a = wf.stub(lifecycleStubs());
      const result = await sweep();
      expect(result).toEqual({ runId: `run-${runs}`, counts: COUNTS });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: 'u-gone', status: 'aborted', error: null });
      expect(a.commitLifecycleBatch).toHaveBeenCalledWith({ runId: `run-${runs}`, phase: 'uploads', step: 0, cursor, counts: { uploads_aborted: 1 } });
      expect(a.hideAssetForDeletion).toHaveBeenCalledWith('a1', { deletedBy: '2026-11-01T00:00:00.000000Z' });
      expect(a.deleteAssetRows).toHaveBeenCalledWith('a1', ACTOR);
      // Then the housekeeping a real run does once, after its phases.
      expect(a.pruneEndedTableRows).toHaveBeenCalledTimes(1);
      expect(a.abortIncompleteUploads).toHaveBeenCalledTimes(1);
      expect(a.commitLifecycleBatch).toHaveBeenCalledWith({
        runId: `run-${runs}`,
        phase: 'purge',
        step: 1,
        cursor,
        counts: { assets_purged: 1, bytes_freed: 7 },
      });
      expect(a.expireAssets).toHaveBeenCalledWith(`run-${runs}`);
      expect(a.expireVersions).toHaveBeenCalledWith(`run-${runs}`);
      expect(a.failLifecycleRun).not.toHaveBeenCalled();
    });

    it('a dry run acts on nothing but still commits each batch with its counts', async () => {
      const a = wf.stub({ ...lifecycleStubs(), beginLifecycleRun: jest.fn(async () => ({ phase: 'uploads', dryRun: true })) });
      await sweep();
      expect(a.discardUpload).not.toHaveBeenCalled();
      expect(a.hideAssetForDeletion).not.toHaveBeenCalled();
      expect(a.commitLifecycleBatch).toHaveBeenCalledTimes(2);
      expect(a.commitLifecycleBatch).toHaveBeenLastCalledWith(expect.objectContaining({ phase: 'purge', counts: { assets_purged: 1, bytes_freed: 7 } }));
    });

    it('resumes from the phase its row says', async () => {
      const a = wf.stub({ ...lifecycleStubs(), beginLifecycleRun: jest.fn(async () => ({ phase: 'versions', dryRun: false })) });
      await sweep();
      expect(a.nextUploadBatch).not.toHaveBeenCalled();
      expect(a.expireAssets).not.toHaveBeenCalled();
      expect(a.expireVersions).toHaveBeenCalledTimes(1);
    });

    it('continues as new when its history reaches the limit, and finishes in the new run', async () => {
      const a = wf.stub({
        ...lifecycleStubs(),
        // The row says where the run is: its next run begins where the first left off.
        beginLifecycleRun: jest.fn().mockResolvedValueOnce({ phase: 'assets', dryRun: false }).mockResolvedValue({ phase: 'done', dryRun: false }),
        expireAssets: jest.fn(async () => ({ phase: 'assets', processed: 1 })),
      });
      const result = await sweep({ historyLimit: 10 });
      expect(result.counts).toEqual(COUNTS);
      expect(a.beginLifecycleRun).toHaveBeenCalledTimes(2);
      expect(a.completeLifecycleRun).toHaveBeenCalledTimes(1);
    });

    it('a step that fails for good marks the run failed with its message, and the run fails', async () => {
      const a = wf.stub({
        ...lifecycleStubs(),
        beginLifecycleRun: jest.fn(async () =>
          Promise.reject(ApplicationFailure.create({ type: LifecycleFailure.runNotFound, message: 'no such run', nonRetryable: true })),
        ),
      });
      await expect(sweep()).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(a.failLifecycleRun).toHaveBeenCalledWith({ runId: `run-${runs}`, error: 'no such run' });
    });

    it('the scheduled run makes a run and sweeps it as a child acting for the system', async () => {
      const a = wf.stub(lifecycleStubs());
      const result = await wf.env.client.workflow.execute('scheduledLifecycleWorkflow', { taskQueue: wf.taskQueue, workflowId: 'scheduled-lifecycle' });
      const runId = a.createScheduledRun.mock.calls[0][0];
      expect(result).toEqual({ runId, counts: COUNTS });
      expect(a.beginLifecycleRun).toHaveBeenCalledWith({ runId, asOf: expect.any(String) });
      expect(a.deleteAssetRows).toHaveBeenCalledWith('a1', { sub: 'system', roles: ['storage:admin'] });
    });
  });
