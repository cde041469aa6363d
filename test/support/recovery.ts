/**
 * Helpers for the recovery tests (docs/recovery.md): the catalog read table by table as PostgreSQL
 * renders it (timestamps to the microsecond), a bucket emptied, a catalog lost (the service started
 * again on a new, freshly migrated database over the same buckets), and the storage-backup schedule
 * triggered on the test's own task queue.
 */
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { ensureBackupSchedule } from '../../worker/schedules';
import { uuidv7 } from '../../lib/platform/ids';
import type { scheduledBackupWorkflow } from '../../workflows/backups/backup';
import { keysOf } from './catalog';
import { startTestService, type TestContext } from './context';
import { waitUntil } from './processes';

/** The tables a backup holds whole, each with the columns that order it. */
export const BACKED_UP_TABLES = {
  assets: 'id',
  asset_versions: 'id',
  asset_metadata: 'asset_id, key',
  asset_grants: 'asset_id, subject',
  lifecycle_policies: 'id',
  policy_rules: 'id',
  owner_quotas: 'owner_id',
  // Kept by triggers from the rows above: a restore must leave it exactly as it was.
  owner_usage: 'owner_id',
} as const;

export type TableName = keyof typeof BACKED_UP_TABLES;

export async function rowsOf(ctx: TestContext, table: string, orderBy: string, where = 'true'): Promise<Array<Record<string, unknown>>> {
  const { rows } = await ctx.db.raw(`SELECT to_jsonb(t) AS row FROM ${table} t WHERE ${where} ORDER BY ${orderBy}`);
  return rows.map((r: { row: Record<string, unknown> }) => r.row);
}

export async function catalogOf(ctx: TestContext): Promise<Record<TableName, Array<Record<string, unknown>>>> {
  const entries = await Promise.all(Object.entries(BACKED_UP_TABLES).map(async ([table, order]) => [table, await rowsOf(ctx, table, order)] as const));
  return Object.fromEntries(entries) as Record<TableName, Array<Record<string, unknown>>>;
}

export async function emptyBucket(ctx: TestContext, bucket: string): Promise<void> {
  const keys = await keysOf(ctx, bucket);
  for (let i = 0; i < keys.length; i += 1000) {
    await ctx.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

export const SERVICE_SETTINGS = { STORAGE_UPLOAD_WAIT_SECONDS: '60' };

/**
 * The catalog lost: the service stops and its database is dropped; a new one, migrated afresh (a
 * copy of the run's migrated template), serves the same asset and backup buckets with a new API and
 * worker. Answers the new context.
 */
export async function loseCatalog(ctx: TestContext): Promise<TestContext> {
  const bucket = ctx.config.s3.bucket;
  await ctx.stop();
  const next = await startTestService({ ...SERVICE_SETTINGS, STORAGE_S3_BUCKET_NAME: bucket });
  expect(next.config.s3.backupBucket).toBe(ctx.config.s3.backupBucket);
  expect(await next.db('backup_jobs').count({ n: '*' })).toEqual([{ n: 0 }]);
  return next;
}

/**
 * The storage-backup schedule, created on the context's task queue and triggered as an operator (or
 * 02:00 UTC) would; answers what the scheduled run returned. The schedule is deleted after.
 */
export async function triggerBackupSchedule(ctx: TestContext): Promise<Awaited<ReturnType<typeof scheduledBackupWorkflow>>> {
  const client = ctx.temporal.client;
  const scheduleId = `storage-backup-test-${uuidv7().slice(-12)}`;
  await ensureBackupSchedule(client, { enabled: true, cron: '0 2 * * *', taskQueue: ctx.config.temporal.taskQueue, scheduleId });
  try {
    const known = new Set<string>(await ctx.db('backup_jobs').pluck('id'));
    await client.schedule.getHandle(scheduleId).trigger();
    const row = await waitUntil(
      'the scheduled backup',
      async () => (await ctx.db('backup_jobs').where({ kind: 'backup', trigger: 'schedule' })).find((r) => !known.has(r.id)),
      60_000,
      200,
    );
    // Its row is written before its run starts: the run is waited for too.
    const parent = await waitUntil('the scheduled backup to start', async () => {
      const described = await client.workflow
        .getHandle(`backup-${row.id}`)
        .describe()
        .catch(() => undefined);
      return described?.parentExecution?.workflowId ?? undefined;
    });
    return await client.workflow.getHandle<typeof scheduledBackupWorkflow>(parent).result();
  } finally {
    await client.schedule
      .getHandle(scheduleId)
      .delete()
      .catch(() => undefined);
  }
}
