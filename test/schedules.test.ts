/**
 * Issue 26, finding 3: deployments sharing a Temporal namespace keep their own schedules. Each worker
 * keeps the schedules its task queue names (ids derived from it, or configured), and never takes over
 * one that starts its runs on another queue: a bench or a test worker leaves `npm start`'s alone.
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../lib/platform/config';
import type { Logger } from '../lib/platform/logger';
import { uuidv7 } from '../lib/platform/ids';
import { backupScheduleIdOf, ensureLifecycleSchedule, ensureSchedules, lifecycleScheduleIdOf, restoreDrillScheduleIdOf } from '../worker/schedules';
import { testConfig } from './support/context';

function recordingLogger(): Logger & { warnings: Array<{ msg: string; fields?: Record<string, unknown> }> } {
  const warnings: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const logger = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (msg: string, fields?: Record<string, unknown>) => warnings.push({ msg, fields }),
    error: () => {},
    child: () => logger,
  };
  return logger;
}

let connection: Connection;
beforeAll(async () => {
  connection = await Connection.connect({ address: process.env.STORAGE_TEMPORAL_ADDRESS! });
});
afterAll(async () => {
  await connection?.close();
});

const client = () => new Client({ connection, namespace: 'default' });

async function describeAction(scheduleId: string) {
  const description = await client().schedule.getHandle(scheduleId).describe();
  return description.action as { taskQueue?: string; workflowType?: string };
}

async function deleteSchedules(ids: string[]) {
  for (const id of ids)
    await client()
      .schedule.getHandle(id)
      .delete()
      .catch(() => undefined);
}

it('two workers with different task queues on one namespace keep their own lifecycle, backup, restore drill and scrub schedules', async () => {
  const suffix = uuidv7().slice(-12);
  const first: Config = testConfig({ STORAGE_TEMPORAL_TASK_QUEUE: `bench-${suffix}` });
  const second: Config = testConfig({ STORAGE_TEMPORAL_TASK_QUEUE: `service-${suffix}` });
  const ids = [first, second].flatMap((c) => ['lifecycle', 'backup', 'restore-drill', 'scrub'].map((s) => `storage-${s}-${c.temporal.taskQueue}`));
  try {
    // Each starts as worker/main.ts does, one after the other, then the first again (a restart).
    const kept = (change: string) => ({ lifecycle: change, backup: change, restoreDrill: change, scrub: change });
    expect(await ensureSchedules(connection, first)).toEqual(kept('created'));
    expect(await ensureSchedules(connection, second)).toEqual(kept('created'));
    expect(await ensureSchedules(connection, first)).toEqual(kept('unchanged'));
    for (const config of [first, second]) {
      const queue = config.temporal.taskQueue;
      expect(await describeAction(`storage-lifecycle-${queue}`)).toMatchObject({ workflowType: 'scheduledLifecycleWorkflow', taskQueue: queue });
      expect(await describeAction(`storage-backup-${queue}`)).toMatchObject({ workflowType: 'scheduledBackupWorkflow', taskQueue: queue });
      expect(await describeAction(`storage-restore-drill-${queue}`)).toMatchObject({ workflowType: 'scheduledRestoreDrillWorkflow', taskQueue: queue });
      expect(await describeAction(`storage-scrub-${queue}`)).toMatchObject({ workflowType: 'scheduledScrubWorkflow', taskQueue: queue });
    }
  } finally {
    await deleteSchedules(ids);
  }
});

it('a worker whose schedule id names another queue leaves that schedule alone, with a warning; a disabled backup does not delete it', async () => {
  const suffix = uuidv7().slice(-12);
  const owner = `owner-${suffix}`;
  const lifecycleId = `storage-lifecycle-shared-${suffix}`;
  const backupId = `storage-backup-shared-${suffix}`;
  const drillId = `storage-restore-drill-shared-${suffix}`;
  const ownerConfig = testConfig({
    STORAGE_TEMPORAL_TASK_QUEUE: owner,
    STORAGE_LIFECYCLE_SCHEDULE_ID: lifecycleId,
    STORAGE_BACKUP_SCHEDULE_ID: backupId,
    STORAGE_RESTORE_DRILL_SCHEDULE_ID: drillId,
  });
  const other = testConfig({
    STORAGE_TEMPORAL_TASK_QUEUE: `other-${suffix}`,
    STORAGE_LIFECYCLE_SCHEDULE_ID: lifecycleId,
    STORAGE_BACKUP_SCHEDULE_ID: backupId,
    STORAGE_RESTORE_DRILL_SCHEDULE_ID: drillId,
    STORAGE_LIFECYCLE_CRON: '30 4 * * *',
  });
  try {
    expect(await ensureSchedules(connection, ownerConfig)).toEqual({ lifecycle: 'created', backup: 'created', restoreDrill: 'created', scrub: 'created' });
    const logger = recordingLogger();
    // The scrub schedule's id is derived from each queue here: each keeps its own.
    expect(await ensureSchedules(connection, other, { logger })).toEqual({
      lifecycle: 'foreign',
      backup: 'foreign',
      restoreDrill: 'foreign',
      scrub: 'created',
    });
    expect(await describeAction(lifecycleId)).toMatchObject({ taskQueue: owner });
    expect(await describeAction(backupId)).toMatchObject({ taskQueue: owner });
    expect(logger.warnings.map((w) => [w.msg, w.fields?.schedule_id, w.fields?.schedule_task_queue])).toEqual([
      [expect.stringContaining('another task queue'), lifecycleId, owner],
      [expect.stringContaining('another task queue'), backupId, owner],
      [expect.stringContaining('another task queue'), drillId, owner],
    ]);
    // The same through the function a test calls directly.
    expect(await ensureLifecycleSchedule(client(), { scheduleId: lifecycleId, cron: '30 4 * * *', taskQueue: `other-${suffix}` })).toBe('foreign');

    const disabled = { ...other, backups: { ...other.backups, enabled: false } };
    expect(await ensureSchedules(connection, disabled, { logger })).toMatchObject({ backup: 'foreign', restoreDrill: 'foreign' });
    expect(await describeAction(backupId)).toMatchObject({ taskQueue: owner });
    expect(await describeAction(drillId)).toMatchObject({ taskQueue: owner });
  } finally {
    await deleteSchedules([lifecycleId, backupId, drillId, `storage-scrub-${owner}`, `storage-scrub-other-${suffix}`]);
  }
});

it('the default deployment (task queue `storage`) keeps the ids existing servers have; others derive theirs from the queue', () => {
  const base = { ...process.env, STORAGE_LIFECYCLE_SCHEDULE_ID: '', STORAGE_BACKUP_SCHEDULE_ID: '', STORAGE_RESTORE_DRILL_SCHEDULE_ID: '' };
  const service = loadConfig({ ...base, STORAGE_TEMPORAL_TASK_QUEUE: 'storage' });
  expect([lifecycleScheduleIdOf(service), backupScheduleIdOf(service), restoreDrillScheduleIdOf(service)]).toEqual([
    'storage-lifecycle',
    'storage-backup',
    'storage-restore-drill',
  ]);
  expect(restoreDrillScheduleIdOf(loadConfig({ ...base, STORAGE_TEMPORAL_TASK_QUEUE: 'storage-bench' }))).toBe('storage-restore-drill-storage-bench');
  const bench = loadConfig({ ...base, STORAGE_TEMPORAL_TASK_QUEUE: 'storage-bench' });
  expect([lifecycleScheduleIdOf(bench), backupScheduleIdOf(bench)]).toEqual(['storage-lifecycle-storage-bench', 'storage-backup-storage-bench']);
  const configured = loadConfig({ ...base, STORAGE_LIFECYCLE_SCHEDULE_ID: 'sweeps', STORAGE_BACKUP_SCHEDULE_ID: 'nightly' });
  expect([lifecycleScheduleIdOf(configured), backupScheduleIdOf(configured)]).toEqual(['sweeps', 'nightly']);
});
