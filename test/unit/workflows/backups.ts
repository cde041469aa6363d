import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { backupRetentionWorkflow, backupWorkflow, restoreWorkflow } from '../../../workflows';
import { BackupFailure, EMPTY_BACKUP_PROGRESS, EMPTY_RESTORE_PROGRESS } from '../../../workflows/backups/definitions';
import type { Stubs, WorkflowTestEnv } from '../support/workflowEnv';

const SYSTEM = { sub: 'system', roles: ['storage:admin'] };
const progress = (done: number) => ({ ...EMPTY_BACKUP_PROGRESS, objects_total: 2, objects_done: done });
const restored = (done: number) => ({ ...EMPTY_RESTORE_PROGRESS, assets_total: 2, assets_done: done, assets_restored: done });

export function backupStubs(): Stubs {
  return {
    createScheduledBackup: jest.fn(async () => ({ attempts: 1, delaySeconds: 0, windowHours: 0 })),
    beginBackup: jest.fn(async () => ({ status: 'running', progress: EMPTY_BACKUP_PROGRESS })),
    writeBackupManifest: jest.fn(async () => progress(0)),
    copyBackupBlobs: jest
      .fn()
      .mockResolvedValueOnce({ cursor: 1, progress: progress(1), done: false })
      .mockResolvedValue({ cursor: 2, progress: progress(2), done: true }),
    completeBackup: jest.fn(async ({ progress }) => progress),
    failBackup: jest.fn(async () => {}),
    beginRestore: jest.fn(async () => ({ status: 'running', cursor: 0, end: 2, assetsTotal: 2 })),
    restoreBackupAssets: jest
      .fn()
      .mockResolvedValueOnce({ cursor: 1, done: false, progress: restored(1) })
      .mockResolvedValue({ cursor: 2, done: true, progress: restored(2) }),
    finishRestore: jest.fn(async () => ({ status: 'completed', progress: restored(2), error: null })),
    failRestore: jest.fn(async () => {}),
    checkBackupBucket: jest.fn(async () => ({ unknownBackups: ['b-unknown'], refused: null })),
    expireOldBackups: jest.fn(async () => ({ removed: 2 })),
    markRetainedBlobs: jest.fn(async () => ({ manifests: 3, refused: null })),
    sweepUnmarkedBlobs: jest
      .fn()
      .mockResolvedValueOnce({ deleted: 4, bytesFreed: 40, startAfter: 'k4', done: false })
      .mockResolvedValue({ deleted: 1, bytesFreed: 10, startAfter: null, done: true }),
    clearRetentionSweep: jest.fn(async () => {}),
  };
}

const permanent = (type: string, message: string) => async () => Promise.reject(ApplicationFailure.create({ type, message, nonRetryable: true }));

export const describeBackupWorkflows = (wf: WorkflowTestEnv) => {
  let runs = 0;
  const id = () => `job-${++runs}`;

  describe('backupWorkflow', () => {
    const backup = (backupId: string, input = {}) =>
      wf.env.client.workflow.execute(backupWorkflow, { taskQueue: wf.taskQueue, workflowId: `backup-${backupId}`, args: [{ backupId, ...input }] });

    it('writes the manifest, copies step by step, completes with the progress', async () => {
      const a = wf.stub(backupStubs());
      const backupId = id();
      expect(await backup(backupId)).toEqual({ backupId, status: 'completed', progress: progress(2) });
      expect(a.writeBackupManifest).toHaveBeenCalledWith(backupId);
      expect(a.copyBackupBlobs.mock.calls.map(([input]) => input.cursor)).toEqual([0, 1]);
      expect(a.completeBackup).toHaveBeenCalledWith({ backupId, progress: progress(2) });
    });

    it('a backup that had already ended answers as it ended and does nothing', async () => {
      const a = wf.stub({ ...backupStubs(), beginBackup: jest.fn(async () => ({ status: 'completed', progress: progress(2) })) });
      const backupId = id();
      expect(await backup(backupId)).toEqual({ backupId, status: 'completed', progress: progress(2) });
      expect(a.writeBackupManifest).not.toHaveBeenCalled();
    });

    it('continues as new between copy steps, carrying its position', async () => {
      const a = wf.stub(backupStubs());
      const backupId = id();
      expect(await backup(backupId, { tuning: { historyLimit: 12 } })).toMatchObject({ status: 'completed' });
      expect(a.beginBackup).toHaveBeenCalledTimes(1);
      expect(a.copyBackupBlobs.mock.calls[1][0]).toMatchObject({ cursor: 1, progress: progress(1) });
    });

    it('a step that fails for good marks the backup failed with its message and progress, and the run fails', async () => {
      const a = wf.stub({ ...backupStubs(), copyBackupBlobs: jest.fn(permanent(BackupFailure.sourceMissing, 'blob gone')) });
      const backupId = id();
      await expect(backup(backupId)).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(a.failBackup).toHaveBeenCalledWith({ backupId, error: 'blob gone', progress: progress(0) });
    });
  });

  describe('scheduledBackupWorkflow', () => {
    const scheduled = () => wf.env.client.workflow.execute('scheduledBackupWorkflow', { taskQueue: wf.taskQueue, workflowId: `scheduled-backup-${++runs}` });

    it('a backup that completes is followed by the retention sweep, both acting for the system', async () => {
      const a = wf.stub(backupStubs());
      const result = await scheduled();
      const backupId = a.createScheduledBackup.mock.calls[0][0];
      expect(result).toMatchObject({ backupId, attempts: 1, backup: { backupId, status: 'completed' }, retention: { backups_removed: 2 } });
      expect(a.expireOldBackups).toHaveBeenCalledWith({ asOf: expect.any(String), actor: SYSTEM });
    });

    it('a failed backup is taken again after the delay, within the attempts; retention runs after the one that completes', async () => {
      const a = wf.stub({
        ...backupStubs(),
        createScheduledBackup: jest.fn(async () => ({ attempts: 3, delaySeconds: 1, windowHours: 6 })),
        writeBackupManifest: jest.fn(async () => progress(0)).mockImplementationOnce(permanent(BackupFailure.sourceMissing, 'blob gone')),
      });
      const result = await scheduled();
      expect(result).toMatchObject({ attempts: 2, backup: { status: 'completed' } });
      expect(a.createScheduledBackup).toHaveBeenCalledTimes(2);
      expect(a.expireOldBackups).toHaveBeenCalledTimes(1);
    });

    it('every attempt failing fails the run, and no retention runs', async () => {
      const a = wf.stub({
        ...backupStubs(),
        createScheduledBackup: jest.fn(async () => ({ attempts: 2, delaySeconds: 1, windowHours: 1 })),
        writeBackupManifest: jest.fn(permanent(BackupFailure.sourceMissing, 'blob gone')),
      });
      const failed = await scheduled().catch((err: unknown) => err);
      expect((failed as WorkflowFailedError).cause).toMatchObject({ type: BackupFailure.scheduledBackupFailed });
      expect(a.createScheduledBackup).toHaveBeenCalledTimes(2);
      expect(a.expireOldBackups).not.toHaveBeenCalled();
    });
  });

  describe('restoreWorkflow', () => {
    const restore = (restoreId: string) =>
      wf.env.client.workflow.execute(restoreWorkflow, { taskQueue: wf.taskQueue, workflowId: `restore-${restoreId}`, args: [{ restoreId }] });

    it('restores step by step from the position begun, then finishes', async () => {
      const a = wf.stub(backupStubs());
      const restoreId = id();
      expect(await restore(restoreId)).toEqual({ status: 'completed', progress: restored(2), error: null });
      expect(a.restoreBackupAssets.mock.calls.map(([input]) => input.cursor)).toEqual([0, 1]);
      expect(a.finishRestore).toHaveBeenCalledWith({ restoreId, assetsTotal: 2 });
    });

    it('a restore not running answers its status and does nothing', async () => {
      const a = wf.stub({ ...backupStubs(), beginRestore: jest.fn(async () => ({ status: 'completed', cursor: 0, end: 0, assetsTotal: 0 })) });
      expect(await restore(id())).toMatchObject({ status: 'completed' });
      expect(a.restoreBackupAssets).not.toHaveBeenCalled();
    });

    it('assets that failed fail the run with RestoreIncomplete, without marking the row again', async () => {
      const a = wf.stub({ ...backupStubs(), finishRestore: jest.fn(async () => ({ status: 'failed', progress: restored(2), error: '1 asset failed' })) });
      const failed = await restore(id()).catch((err: unknown) => err);
      expect((failed as WorkflowFailedError).cause).toMatchObject({ type: BackupFailure.restoreIncomplete, message: '1 asset failed' });
      expect(a.failRestore).not.toHaveBeenCalled();
    });

    it('a step that fails for good marks the restore failed', async () => {
      const a = wf.stub({ ...backupStubs(), restoreBackupAssets: jest.fn(permanent(BackupFailure.manifestCorrupt, 'bad manifest')) });
      const restoreId = id();
      await expect(restore(restoreId)).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(a.failRestore).toHaveBeenCalledWith({ restoreId, error: 'bad manifest' });
    });
  });

  describe('backupRetentionWorkflow', () => {
    const retention = (sweepId: string, input = {}) =>
      wf.env.client.workflow.execute(backupRetentionWorkflow, {
        taskQueue: wf.taskQueue,
        workflowId: `retention-${sweepId}`,
        args: [{ sweepId, asOf: '2026-01-01T00:00:00Z', ...input }],
      });

    it('checks the bucket, expires, marks, sweeps page by page, and records the outcome', async () => {
      const a = wf.stub(backupStubs());
      const sweepId = id();
      const counts = { backups_removed: 2, blobs_deleted: 5, bytes_freed: 50, unknown_backups: ['b-unknown'], refused: null };
      expect(await retention(sweepId)).toEqual(counts);
      expect(a.markRetainedBlobs).toHaveBeenCalledWith({ sweepId, unknownBackups: ['b-unknown'] });
      expect(a.sweepUnmarkedBlobs.mock.calls.map(([input]) => input.startAfter)).toEqual([null, 'k4']);
      expect(a.clearRetentionSweep).toHaveBeenCalledWith({ sweepId, outcome: { status: 'completed', counts } });
    });

    it('a bucket the catalog does not account for refuses the sweep before anything is deleted', async () => {
      const a = wf.stub({ ...backupStubs(), checkBackupBucket: jest.fn(async () => ({ unknownBackups: [], refused: 'catalog lost' })) });
      const sweepId = id();
      expect(await retention(sweepId)).toMatchObject({ refused: 'catalog lost', backups_removed: 0 });
      expect(a.expireOldBackups).not.toHaveBeenCalled();
      expect(a.sweepUnmarkedBlobs).not.toHaveBeenCalled();
      expect(a.clearRetentionSweep).toHaveBeenCalledWith({ sweepId });
    });

    it('a mark that refuses stops the sweep before it deletes', async () => {
      const a = wf.stub({ ...backupStubs(), markRetainedBlobs: jest.fn(async () => ({ manifests: 0, refused: 'manifest unreadable' })) });
      expect(await retention(id())).toMatchObject({ refused: 'manifest unreadable', backups_removed: 2 });
      expect(a.sweepUnmarkedBlobs).not.toHaveBeenCalled();
    });

    it('continues as new between sweep pages; a failure clears its marks as failed', async () => {
      const a = wf.stub(backupStubs());
      expect(await retention(id(), { historyLimit: 14 })).toMatchObject({ blobs_deleted: 5 });
      expect(a.checkBackupBucket).toHaveBeenCalledTimes(1);
      const b = wf.stub({ ...backupStubs(), expireOldBackups: jest.fn(permanent('Other', 'no bucket')) });
      const sweepId = id();
      await expect(retention(sweepId)).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(b.clearRetentionSweep).toHaveBeenCalledWith({ sweepId, outcome: { status: 'failed' } });
    });
  });
};
