/**
 * The Temporal Schedules the worker keeps: created at start, updated when the configuration changed,
 * left alone otherwise (an operator's pause stays paused). Every worker replica runs this at start;
 * concurrent calls settle on one schedule.
 */
import { Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type ConnectionLike, type ScheduleDescription } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import { StorageOperationAttribute } from '../lib/temporal';
import type { scheduledBackupWorkflow } from '../workflows/backup';
import type { lifecycleSweepWorkflow } from '../workflows/lifecycleSweep';

export const LIFECYCLE_SCHEDULE_ID = 'storage-lifecycle';

export interface LifecycleScheduleOptions {
  cron: string;
  taskQueue: string;
  /** Tests use their own; the service's is `storage-lifecycle`. */
  scheduleId?: string;
  logger?: Logger;
}

export type ScheduleChange = 'created' | 'updated' | 'unchanged';

function lifecycleAction(opts: LifecycleScheduleOptions) {
  return {
    type: 'startWorkflow' as const,
    workflowType: 'lifecycleSweepWorkflow',
    // Temporal appends the scheduled time; the sweep it starts then runs as lifecycle-{run_id}.
    workflowId: `lifecycle-scheduled-${opts.scheduleId ?? LIFECYCLE_SCHEDULE_ID}`,
    taskQueue: opts.taskQueue,
    args: [{}] as Parameters<typeof lifecycleSweepWorkflow>,
    // The server keeps a cron spec only in its structured form: the expression itself is kept here,
    // where the next start compares it.
    memo: { cron: opts.cron },
    typedSearchAttributes: new TypedSearchAttributes([{ key: StorageOperationAttribute, value: 'lifecycle' }]),
  };
}

function isCurrent(description: ScheduleDescription, opts: LifecycleScheduleOptions): boolean {
  const action = description.action;
  return (
    action.type === 'startWorkflow' &&
    action.workflowType === 'lifecycleSweepWorkflow' &&
    action.taskQueue === opts.taskQueue &&
    action.memo?.cron === opts.cron &&
    description.policies.overlap === ScheduleOverlapPolicy.SKIP
  );
}

/** `storage-lifecycle`: cron STORAGE_LIFECYCLE_CRON (UTC), overlap SKIP, starting lifecycleSweepWorkflow. */
export async function ensureLifecycleSchedule(client: Client, opts: LifecycleScheduleOptions): Promise<ScheduleChange> {
  const scheduleId = opts.scheduleId ?? LIFECYCLE_SCHEDULE_ID;
  const spec = { cronExpressions: [opts.cron] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 }; // a start missed by up to an hour (server down) is still taken
  try {
    await client.schedule.create({ scheduleId, spec, action: lifecycleAction(opts), policies });
    opts.logger?.info('schedule created', { schedule_id: scheduleId, cron: opts.cron });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  if (isCurrent(await handle.describe(), opts)) return 'unchanged';
  // The update keeps the schedule's state (paused or not, its note) and replaces what it does and when.
  await handle.update((previous) => ({ ...previous, spec, action: lifecycleAction(opts), policies: { ...previous.policies, ...policies } }));
  opts.logger?.info('schedule updated', { schedule_id: scheduleId, cron: opts.cron });
  return 'updated';
}

export const BACKUP_SCHEDULE_ID = 'storage-backup';

export interface BackupScheduleOptions {
  /** STORAGE_BACKUP_ENABLED: when false, the schedule is deleted if it exists. */
  enabled: boolean;
  cron: string;
  taskQueue: string;
  /** Tests use their own; the service's is `storage-backup`. */
  scheduleId?: string;
  logger?: Logger;
}

function backupAction(opts: BackupScheduleOptions) {
  return {
    type: 'startWorkflow' as const,
    workflowType: 'scheduledBackupWorkflow',
    // Temporal appends the scheduled time; the backup it takes runs as backup-{backup_id}, then the
    // retention sweep as backup-retention-{backup_id}.
    workflowId: `backup-scheduled-${opts.scheduleId ?? BACKUP_SCHEDULE_ID}`,
    taskQueue: opts.taskQueue,
    args: [] as Parameters<typeof scheduledBackupWorkflow>,
    memo: { cron: opts.cron },
    typedSearchAttributes: new TypedSearchAttributes([{ key: StorageOperationAttribute, value: 'backup' }]),
  };
}

/**
 * `storage-backup`: cron STORAGE_BACKUP_CRON (UTC), overlap SKIP, starting scheduledBackupWorkflow
 * (a backup of every asset and version, then the retention sweep); kept like `storage-lifecycle`.
 * With STORAGE_BACKUP_ENABLED=false it is deleted, so no backup is taken on a schedule.
 */
export async function ensureBackupSchedule(client: Client, opts: BackupScheduleOptions): Promise<ScheduleChange | 'deleted' | 'absent'> {
  const scheduleId = opts.scheduleId ?? BACKUP_SCHEDULE_ID;
  const handle = client.schedule.getHandle(scheduleId);
  if (!opts.enabled) {
    try {
      await handle.delete();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'absent';
      throw err;
    }
    opts.logger?.info('schedule deleted (STORAGE_BACKUP_ENABLED=false)', { schedule_id: scheduleId });
    return 'deleted';
  }
  const spec = { cronExpressions: [opts.cron] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 };
  try {
    await client.schedule.create({ scheduleId, spec, action: backupAction(opts), policies });
    opts.logger?.info('schedule created', { schedule_id: scheduleId, cron: opts.cron });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const description = await handle.describe();
  const action = description.action;
  if (
    action.type === 'startWorkflow' &&
    action.workflowType === 'scheduledBackupWorkflow' &&
    action.taskQueue === opts.taskQueue &&
    action.memo?.cron === opts.cron &&
    description.policies.overlap === ScheduleOverlapPolicy.SKIP
  ) {
    return 'unchanged';
  }
  await handle.update((previous) => ({ ...previous, spec, action: backupAction(opts), policies: { ...previous.policies, ...policies } }));
  opts.logger?.info('schedule updated', { schedule_id: scheduleId, cron: opts.cron });
  return 'updated';
}

/** What the worker keeps at start, over its own connection (worker/main.ts). */
export async function ensureSchedules(
  connection: ConnectionLike,
  config: Config,
  opts: { logger?: Logger; lifecycleScheduleId?: string; backupScheduleId?: string } = {},
): Promise<{ lifecycle: ScheduleChange; backup: ScheduleChange | 'deleted' | 'absent' }> {
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const lifecycle = await ensureLifecycleSchedule(client, {
    cron: config.lifecycle.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.lifecycleScheduleId,
    logger: opts.logger,
  });
  const backup = await ensureBackupSchedule(client, {
    enabled: config.backups.enabled,
    cron: config.backups.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.backupScheduleId,
    logger: opts.logger,
  });
  return { lifecycle, backup };
}
