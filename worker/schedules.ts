/**
 * The Temporal Schedules the worker keeps: created at start, updated when the configuration changed,
 * left alone otherwise (an operator's pause stays paused). Every worker replica runs this at start;
 * concurrent calls settle on one schedule.
 *
 * A schedule belongs to the deployment whose task queue its action names: deployments may share a
 * namespace (the bench, the tests, a second stack), so each keeps schedules of its own ids (derived
 * from its task queue, or configured), and a worker never updates or deletes one that starts its runs
 * on another queue: it warns and leaves it to its owner.
 */
import {
  Client,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type ConnectionLike,
  type ScheduleDescription,
} from '@temporalio/client';
import type { Config } from '../lib/platform/config';
import type { Logger } from '../lib/platform/logger';
import { TypedSearchAttributes } from '@temporalio/common';
import { SYSTEM_ACTOR } from '../lib/auth/actor';
import { StorageActorAttribute, runSearchAttributes } from '../lib/platform/temporal';
import type { scheduledBackupWorkflow } from '../workflows/backups/backup';
import type { scheduledLifecycleWorkflow } from '../workflows/lifecycle/sweep';
import { lifecycleOperation } from '../workflows/lifecycle/definitions';
import { backupOperation } from '../workflows/backups/definitions';
import type { scheduledRestoreDrillWorkflow } from '../workflows/drills/drill';
import { restoreDrillOperation } from '../workflows/drills/definitions';
import type { scheduledScrubWorkflow } from '../workflows/scrub/scrub';
import { scrubOperation } from '../workflows/scrub/definitions';

/** `foreign`: the schedule starts its runs on another task queue, and was left as it is. */
export type ScheduleChange = 'created' | 'updated' | 'unchanged' | 'foreign';

interface KeptSchedule {
  scheduleId: string;
  cron: string;
  taskQueue: string;
  workflowType: string;
  /** Temporal appends the scheduled time to it. */
  workflowId: string;
  args: unknown[];
  operation: string;
  logger?: Logger;
}

/**
 * Creates the schedule, or updates it when what it starts or when changed. The update keeps the
 * schedule's state (paused or not, its note) and replaces what it does and when.
 */
async function keepSchedule(client: Client, s: KeptSchedule): Promise<ScheduleChange> {
  const spec = { cronExpressions: [s.cron] };
  // A start missed by up to an hour (server down) is still taken.
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 3_600_000 };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: s.workflowType,
    workflowId: s.workflowId,
    taskQueue: s.taskQueue,
    args: s.args,
    // The server keeps a cron spec only in its structured form: the expression itself is kept here,
    // where the next start compares it.
    memo: { cron: s.cron },
    typedSearchAttributes: runSearchAttributes({ operation: s.operation, actor: SYSTEM_ACTOR }),
  };
  try {
    await client.schedule.create({ scheduleId: s.scheduleId, spec, action, policies });
    s.logger?.info('schedule created', { schedule_id: s.scheduleId, cron: s.cron });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(s.scheduleId);
  const description = await handle.describe();
  if (isForeign(description, s.taskQueue, s.scheduleId, s.logger)) return 'foreign';
  if (isCurrent(description, s)) return 'unchanged';
  await handle.update((previous) => {
    // Taken over between the describe and the update: left to its owner (the update writes what it returns).
    if (isForeign(previous, s.taskQueue, s.scheduleId, s.logger)) return previous;
    return { ...previous, spec, action, policies: { ...previous.policies, ...policies } };
  });
  s.logger?.info('schedule updated', { schedule_id: s.scheduleId, cron: s.cron });
  return 'updated';
}

/** Whether the schedule starts its runs on a queue other than `taskQueue` (then it warns). */
function isForeign(description: Pick<ScheduleDescription, 'action'>, taskQueue: string, scheduleId: string, logger?: Logger): boolean {
  const action = description.action;
  if (action.type !== 'startWorkflow' || action.taskQueue === taskQueue) return false;
  logger?.warn('schedule left alone: it starts its runs on another task queue (another deployment keeps it)', {
    schedule_id: scheduleId,
    schedule_task_queue: action.taskQueue,
    task_queue: taskQueue,
  });
  return true;
}

function isCurrent(description: ScheduleDescription, s: KeptSchedule): boolean {
  const action = description.action;
  return (
    action.type === 'startWorkflow' &&
    action.workflowType === s.workflowType &&
    action.taskQueue === s.taskQueue &&
    action.memo?.cron === s.cron &&
    // A schedule made before runs carried their actor is updated once, so that its runs do.
    startsForSystem(action) &&
    description.policies.overlap === ScheduleOverlapPolicy.SKIP
  );
}

function startsForSystem(action: ScheduleDescription['action']): boolean {
  const attributes = action.typedSearchAttributes;
  const pairs = attributes instanceof TypedSearchAttributes ? attributes.getAll() : (attributes ?? []);
  return pairs.some((pair) => pair.key.name === StorageActorAttribute.name && pair.value === SYSTEM_ACTOR.sub);
}

export const LIFECYCLE_SCHEDULE_ID = 'storage-lifecycle';
export const BACKUP_SCHEDULE_ID = 'storage-backup';
export const RESTORE_DRILL_SCHEDULE_ID = 'storage-restore-drill';
export const SCRUB_SCHEDULE_ID = 'storage-scrub';
/** The task queue whose deployment keeps the plain ids above (those of the servers made before ids were derived). */
const DEFAULT_TASK_QUEUE = 'storage';

/** Its id unless configured: `base` for the default task queue, `base-<taskQueue>` for any other. */
function scheduleIdOf(base: string, taskQueue: string, configured: string | undefined): string {
  return configured ?? (taskQueue === DEFAULT_TASK_QUEUE ? base : `${base}-${taskQueue}`);
}

/** The deployment's lifecycle schedule: STORAGE_LIFECYCLE_SCHEDULE_ID, else derived from its task queue. */
export function lifecycleScheduleIdOf(config: Pick<Config, 'lifecycle' | 'temporal'>): string {
  return scheduleIdOf(LIFECYCLE_SCHEDULE_ID, config.temporal.taskQueue, config.lifecycle.scheduleId);
}

/** The deployment's backup schedule: STORAGE_BACKUP_SCHEDULE_ID, else derived from its task queue. */
export function backupScheduleIdOf(config: Pick<Config, 'backups' | 'temporal'>): string {
  return scheduleIdOf(BACKUP_SCHEDULE_ID, config.temporal.taskQueue, config.backups.scheduleId);
}

/** The deployment's restore drill schedule: STORAGE_RESTORE_DRILL_SCHEDULE_ID, else derived from its task queue. */
export function restoreDrillScheduleIdOf(config: Pick<Config, 'drills' | 'temporal'>): string {
  return scheduleIdOf(RESTORE_DRILL_SCHEDULE_ID, config.temporal.taskQueue, config.drills.scheduleId);
}

/** The deployment's scrub schedule: STORAGE_SCRUB_SCHEDULE_ID, else derived from its task queue. */
export function scrubScheduleIdOf(config: Pick<Config, 'scrub' | 'temporal'>): string {
  return scheduleIdOf(SCRUB_SCHEDULE_ID, config.temporal.taskQueue, config.scrub.scheduleId);
}

export interface LifecycleScheduleOptions {
  cron: string;
  taskQueue: string;
  /** Unset: that of the task queue (lifecycleScheduleIdOf). */
  scheduleId?: string;
  logger?: Logger;
}

/**
 * `storage-lifecycle` (of the default task queue; lifecycleScheduleIdOf): cron STORAGE_LIFECYCLE_CRON (UTC), overlap SKIP, starting scheduledLifecycleWorkflow
 * (a run made then, swept as its child).
 */
export async function ensureLifecycleSchedule(client: Client, opts: LifecycleScheduleOptions): Promise<ScheduleChange> {
  const scheduleId = opts.scheduleId ?? scheduleIdOf(LIFECYCLE_SCHEDULE_ID, opts.taskQueue, undefined);
  return keepSchedule(client, {
    scheduleId,
    cron: opts.cron,
    taskQueue: opts.taskQueue,
    workflowType: 'scheduledLifecycleWorkflow',
    // The sweep it starts then runs as lifecycle-{run_id}.
    workflowId: `lifecycle-scheduled-${scheduleId}`,
    args: [] as Parameters<typeof scheduledLifecycleWorkflow>,
    operation: lifecycleOperation,
    logger: opts.logger,
  });
}

export interface BackupScheduleOptions {
  /** STORAGE_BACKUP_ENABLED: when false, the schedule is deleted if it exists (and is this queue's). */
  enabled: boolean;
  cron: string;
  taskQueue: string;
  /** Unset: that of the task queue (backupScheduleIdOf). */
  scheduleId?: string;
  logger?: Logger;
}

/**
 * `storage-backup` (of the default task queue; backupScheduleIdOf): cron STORAGE_BACKUP_CRON (UTC), overlap SKIP, starting scheduledBackupWorkflow
 * (a backup of every asset and version, then the retention sweep); kept like `storage-lifecycle`.
 * With STORAGE_BACKUP_ENABLED=false it is deleted, so no backup is taken on a schedule.
 */
export async function ensureBackupSchedule(client: Client, opts: BackupScheduleOptions): Promise<ScheduleChange | 'deleted' | 'absent'> {
  const scheduleId = opts.scheduleId ?? scheduleIdOf(BACKUP_SCHEDULE_ID, opts.taskQueue, undefined);
  if (!opts.enabled) return deleteBackupSchedule(client, scheduleId, opts);
  return keepSchedule(client, {
    scheduleId,
    cron: opts.cron,
    taskQueue: opts.taskQueue,
    workflowType: 'scheduledBackupWorkflow',
    // The backup it takes runs as backup-{backup_id}, then the retention sweep as backup-retention-{backup_id}.
    workflowId: `backup-scheduled-${scheduleId}`,
    args: [] as Parameters<typeof scheduledBackupWorkflow>,
    operation: backupOperation,
    logger: opts.logger,
  });
}

/**
 * `storage-scrub` (of the default task queue; scrubScheduleIdOf): cron STORAGE_SCRUB_CRON (UTC, default
 * weekly), overlap SKIP, starting scheduledScrubWorkflow (a scrub acting for the system, scrub-{id}).
 */
export async function ensureScrubSchedule(client: Client, opts: LifecycleScheduleOptions): Promise<ScheduleChange> {
  const scheduleId = opts.scheduleId ?? scheduleIdOf(SCRUB_SCHEDULE_ID, opts.taskQueue, undefined);
  return keepSchedule(client, {
    scheduleId,
    cron: opts.cron,
    taskQueue: opts.taskQueue,
    workflowType: 'scheduledScrubWorkflow',
    workflowId: `scrub-scheduled-${scheduleId}`,
    args: [] as Parameters<typeof scheduledScrubWorkflow>,
    operation: scrubOperation,
    logger: opts.logger,
  });
}

/**
 * `storage-restore-drill` (of the default task queue; restoreDrillScheduleIdOf): cron STORAGE_RESTORE_DRILL_CRON (UTC),
 * overlap SKIP, starting scheduledRestoreDrillWorkflow (a drill of the newest completed backup, as
 * restore-drill-{drill_id}). Kept while backups are enabled: with STORAGE_BACKUP_ENABLED=false it is deleted too.
 */
export async function ensureRestoreDrillSchedule(client: Client, opts: BackupScheduleOptions): Promise<ScheduleChange | 'deleted' | 'absent'> {
  const scheduleId = opts.scheduleId ?? scheduleIdOf(RESTORE_DRILL_SCHEDULE_ID, opts.taskQueue, undefined);
  if (!opts.enabled) return deleteBackupSchedule(client, scheduleId, opts);
  return keepSchedule(client, {
    scheduleId,
    cron: opts.cron,
    taskQueue: opts.taskQueue,
    workflowType: 'scheduledRestoreDrillWorkflow',
    workflowId: `restore-drill-scheduled-${scheduleId}`,
    args: [] as Parameters<typeof scheduledRestoreDrillWorkflow>,
    operation: restoreDrillOperation,
    logger: opts.logger,
  });
}

/** STORAGE_BACKUP_ENABLED=false: the deployment's schedule goes; another queue's stays. */
async function deleteBackupSchedule(client: Client, scheduleId: string, opts: BackupScheduleOptions): Promise<'foreign' | 'deleted' | 'absent'> {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    if (isForeign(await handle.describe(), opts.taskQueue, scheduleId, opts.logger)) return 'foreign';
    await handle.delete();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return 'absent';
    throw err;
  }
  opts.logger?.info('schedule deleted (STORAGE_BACKUP_ENABLED=false)', { schedule_id: scheduleId });
  return 'deleted';
}

/**
 * What the worker keeps at start, over its own connection (worker/main.ts): the schedules of its
 * deployment (lifecycleScheduleIdOf, backupScheduleIdOf, restoreDrillScheduleIdOf, scrubScheduleIdOf), unless `opts` names others.
 */
export async function ensureSchedules(
  connection: ConnectionLike,
  config: Config,
  opts: { logger?: Logger; lifecycleScheduleId?: string; backupScheduleId?: string; restoreDrillScheduleId?: string; scrubScheduleId?: string } = {},
): Promise<{
  lifecycle: ScheduleChange;
  backup: ScheduleChange | 'deleted' | 'absent';
  restoreDrill: ScheduleChange | 'deleted' | 'absent';
  scrub: ScheduleChange;
}> {
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const lifecycle = await ensureLifecycleSchedule(client, {
    cron: config.lifecycle.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.lifecycleScheduleId ?? lifecycleScheduleIdOf(config),
    logger: opts.logger,
  });
  const backup = await ensureBackupSchedule(client, {
    enabled: config.backups.enabled,
    cron: config.backups.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.backupScheduleId ?? backupScheduleIdOf(config),
    logger: opts.logger,
  });
  const restoreDrill = await ensureRestoreDrillSchedule(client, {
    enabled: config.backups.enabled,
    cron: config.drills.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.restoreDrillScheduleId ?? restoreDrillScheduleIdOf(config),
    logger: opts.logger,
  });
  const scrub = await ensureScrubSchedule(client, {
    cron: config.scrub.cron,
    taskQueue: config.temporal.taskQueue,
    scheduleId: opts.scrubScheduleId ?? scrubScheduleIdOf(config),
    logger: opts.logger,
  });
  return { lifecycle, backup, restoreDrill, scrub };
}
