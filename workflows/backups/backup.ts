import { ApplicationFailure, continueAsNew, executeChild, patched, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { BackupActivities } from '../../activities/backups/backup';
import {
  BackupFailure,
  EMPTY_BACKUP_PROGRESS,
  backupOperation,
  backupStatusQuery,
  backupWorkflowId,
  retentionOperation,
  retentionWorkflowId,
  type BackupInput,
  type BackupResult,
  type BackupState,
  type ScheduledBackupRetry,
} from './definitions';
import { backupRetentionWorkflow } from './retention';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';
import { storageActor, storageOperation } from '../shared/searchAttributes';
import { uuidv7Now } from '../shared/uuidv7';
import { SYSTEM_ACTOR_REF } from '../shared/actor';
import { boundedSteps } from '../shared/stepBounds';

/** The bounds of the backup's steps (workflows/shared/stepBounds.ts), which the restore's share. */
export const { catalog: backupCatalogSteps, streaming: backupStreamingSteps } = boundedSteps(Object.values(BackupFailure));

const catalog = proxyActivities<BackupActivities>(backupCatalogSteps);
// The manifest and the copy steps stream; the heartbeat tells a stuck step from a slow one. A copy
// step returns after ~10 s, but one large object may take its time (it heartbeats meanwhile).
const steps = proxyActivities<BackupActivities>(backupStreamingSteps);

/**
 * backup-{backup_id}: the manifest from one snapshot of the catalog, then every blob it names copied
 * into the backup bucket unless already there, then the summary and storage.backup.completed. The
 * row exists (written by the API or the schedule); the workflow carries only positions, also across
 * continue-as-new, and answers `backupStatus` with its live progress.
 */
export async function backupWorkflow(input: BackupInput): Promise<BackupResult> {
  const { backupId, tuning, actor } = input;
  const state: BackupState = {
    status: input.resume ? 'running' : 'pending',
    phase: input.resume?.phase ?? 'manifest',
    progress: input.resume?.progress ?? EMPTY_BACKUP_PROGRESS,
    error: null,
  };
  let cursor = input.resume?.cursor ?? 0;
  setHandler(backupStatusQuery, () => state);

  return withFailureHandler(
    async () => {
      if (!input.resume) {
        const begun = await catalog.beginBackup(backupId);
        if (begun.status === 'completed' || begun.status === 'failed') {
          state.status = begun.status;
          state.progress = begun.progress;
          return { backupId, status: state.status, progress: state.progress };
        }
        state.status = 'running';
      }
      if (state.phase === 'manifest') {
        state.progress = await steps.writeBackupManifest(backupId);
        state.phase = 'copy';
      }
      while (state.phase === 'copy') {
        if (continueAsNewDue(tuning?.historyLimit)) {
          await continueAsNew<typeof backupWorkflow>({ backupId, tuning, actor, resume: { phase: state.phase, cursor, progress: state.progress } });
        }
        const step = await steps.copyBackupBlobs({ backupId, cursor, progress: state.progress, tuning });
        cursor = step.cursor;
        state.progress = step.progress;
        if (step.done) state.phase = 'complete';
      }
      state.progress = await catalog.completeBackup({ backupId, progress: state.progress });
      state.status = 'completed';
      return { backupId, status: state.status, progress: state.progress };
    },
    async (err) => {
      const error = messageOf(err);
      state.error = error;
      state.status = 'failed';
      await catalog.failBackup({ backupId, error, progress: state.progress });
    },
  );
}

/** Marks the runs that take a failed scheduled backup again; a run begun before it ran retention after any backup. */
const SCHEDULED_BACKUP_RETRIES = 'scheduled-backup-retries';

/**
 * What the storage-backup schedule starts: a backup of every asset and version (backup-{id}); if it
 * fails, another one (a new snapshot) after the retry delay, up to the attempts and within the window
 * of the run's configuration; then, after a backup that completed and only then, the retention sweep
 * (backup-retention-{id}). Both act for the system. A run whose every attempt failed fails, and no
 * retention runs.
 */
export async function scheduledBackupWorkflow(): Promise<{
  backupId: string;
  backup: BackupResult | null;
  retention: Awaited<ReturnType<typeof backupRetentionWorkflow>>;
  attempts: number;
}> {
  const began = Date.now();
  for (let attempt = 1; ; attempt++) {
    const backupId = uuidv7Now();
    // A run begun before this activity answered a plan got none: it takes one attempt.
    const retry: ScheduledBackupRetry = (await catalog.createScheduledBackup(backupId)) ?? { attempts: 1, delaySeconds: 0, windowHours: 0 };
    let backup: BackupResult | null = null;
    let failure: unknown;
    try {
      backup = await executeChild(backupWorkflow, {
        workflowId: backupWorkflowId(backupId),
        args: [{ backupId, actor: SYSTEM_ACTOR_REF }],
        typedSearchAttributes: [storageOperation(backupOperation), storageActor(SYSTEM_ACTOR_REF)],
      });
    } catch (err) {
      failure = err;
    }
    const completed = backup?.status === 'completed';
    if (completed || !patched(SCHEDULED_BACKUP_RETRIES)) {
      const retention = await executeChild(backupRetentionWorkflow, {
        workflowId: retentionWorkflowId(backupId),
        args: [{ sweepId: backupId, actor: SYSTEM_ACTOR_REF }],
        typedSearchAttributes: [storageOperation(retentionOperation), storageActor(SYSTEM_ACTOR_REF)],
      });
      if (failure) throw failure;
      return { backupId, backup, retention, attempts: attempt };
    }
    const delayMs = retry.delaySeconds * 1000;
    if (attempt >= retry.attempts || Date.now() + delayMs > began + retry.windowHours * 3_600_000) {
      throw ApplicationFailure.create({
        type: BackupFailure.scheduledBackupFailed,
        message: `the scheduled backup failed ${attempt} time(s), the last (backup ${backupId}): ${failure ? messageOf(failure) : `it ended ${backup?.status}`}`,
        nonRetryable: true,
      });
    }
    await sleep(delayMs);
  }
}
