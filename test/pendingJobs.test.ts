/**
 * Issue 26, finding 9: a restore left `pending` with no run (the API died before starting it, or
 * marking a failed start failed too) is marked failed by the backup retention's expiry step once it
 * is older than ABANDONED_AFTER_MS, and its backup expires; a younger one is left alone, and keeps its
 * backup from expiry until it is old enough.
 */
import { insertBackup, insertRestore } from '../lib/backups/catalog';
import { ABANDONED_AFTER_MS } from '../lib/backups/abandonedJobs';
import { uuidv7 } from '../lib/platform/ids';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';
import { resetAll } from './support/backups';
import { useTestService } from './support/context';

const ctx = useTestService();
afterEach(async () => {
  await resetAll(ctx);
});

/** A backup that completed and is past its expires_at. */
async function expiredBackup(): Promise<string> {
  const id = await insertBackup(ctx.db, { scope: { include_all_versions: false }, trigger: 'api', retentionDays: 1 });
  await ctx
    .db('backup_jobs')
    .where({ id })
    .update({ status: 'completed', completed_at: ctx.db.raw(`now() - interval '1 day'`), expires_at: ctx.db.raw(`now() - interval '1 hour'`) });
  return id;
}

/** A restore row of `backupId` written `ageMs` ago, whose run was never started. */
async function restoreWithoutRun(backupId: string, ageMs: number): Promise<string> {
  const id = await insertRestore(ctx.db, { backupId, mode: 'missing' });
  await ctx
    .db('backup_jobs')
    .where({ id })
    .update({ created_at: ctx.db.raw('now() - make_interval(secs => ?)', [ageMs / 1000]) });
  return id;
}

const runRetention = () =>
  ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
    workflowId: `backup-retention-test-${uuidv7()}`,
    taskQueue: ctx.config.temporal.taskQueue,
    args: [{}],
  });

const rowOf = (id: string) => ctx.db('backup_jobs').where({ id }).first();

it('a pending restore with no run is failed by the retention expiry once old enough, and its backup expires', async () => {
  const abandonedBackup = await expiredBackup();
  const abandoned = await restoreWithoutRun(abandonedBackup, ABANDONED_AFTER_MS + 60_000);
  const youngBackup = await expiredBackup();
  const young = await restoreWithoutRun(youngBackup, 60_000);

  const counts = await runRetention();

  expect(await rowOf(abandoned)).toMatchObject({ status: 'failed', error: expect.stringContaining('does not exist') });
  expect((await rowOf(abandonedBackup)).removed_at).not.toBeNull();
  // Its run may still be about to start: left pending, and its backup kept.
  expect((await rowOf(young)).status).toBe('pending');
  expect((await rowOf(youngBackup)).removed_at).toBeNull();
  expect(counts.backups_removed).toBe(1);
});

it('a pending backup with no run is failed by the retention expiry once old enough', async () => {
  const id = await insertBackup(ctx.db, { scope: { include_all_versions: false }, trigger: 'api', retentionDays: 30 });
  await ctx
    .db('backup_jobs')
    .where({ id })
    .update({ created_at: ctx.db.raw('now() - make_interval(secs => ?)', [(ABANDONED_AFTER_MS + 60_000) / 1000]) });
  await runRetention();
  expect(await rowOf(id)).toMatchObject({ status: 'failed', error: expect.stringContaining('does not exist') });
});
