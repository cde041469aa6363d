/**
 * Backups and restores when things go wrong, and retention: a worker process killed in the middle
 * of a backup and of a restore (a new worker finishes; counts stay right; nothing is copied twice),
 * retention keeping what newer and running backups need, and the storage-backup schedule. Each test
 * places its own workers: S3 reached through a proxy that can freeze a worker at a chosen request.
 */
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readBackup, readRestore, startBackup, startRestore } from '../lib/backups/backupRuns';
import { blobKeyFor, manifestKeyFor } from '../lib/backups/catalog';
import { objectKeyFor } from '../lib/assets/keys';
import { uuidv7 } from '../lib/platform/ids';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';
import { ensureBackupSchedule, ensureSchedules } from '../worker/schedules';
import { sha256 } from './support/assets';
import { backupClientOf, blobKeys, manifestLines, objectBytes, resetAll, runBackup, runRestore, seedCatalog, settled } from './support/backups';
import { keysOf } from './support/catalog';
import { useTestService } from './support/context';
import { TEST_ADMIN } from './support/auth';
import { call } from './support/http';
import { envFor, spawnService, waitUntil } from './support/processes';
import { copiesAfter, startS3Proxy, type S3Proxy } from './support/s3Proxy';

const ctx = useTestService({}, { worker: false });
afterEach(async () => {
  await resetAll(ctx);
});

/** A worker process of its own (worker/main.ts), reaching S3 through `s3Url`; no backup schedule. */
function spawnWorker(s3Url: string) {
  return spawnService(
    'worker/main.ts',
    envFor(ctx.config, { STORAGE_S3_ENDPOINT_URL: s3Url, STORAGE_BACKUP_BUCKET_NAME: ctx.config.s3.backupBucket, STORAGE_BACKUP_ENABLED: 'false' }),
  );
}

/** Until the proxy holds a request of the worker's, and every request it passed on has been answered. */
async function frozen(proxy: S3Proxy) {
  await waitUntil('the worker to be held at S3', async () => proxy.held() > 0 && proxy.inFlight() === 0, 90_000, 50);
}

async function withWorker<T>(s3Endpoint: string | undefined, work: () => Promise<T>): Promise<T> {
  const worker = await ctx.startWorker(s3Endpoint ? { s3Endpoint } : {});
  try {
    return await work();
  } finally {
    await worker.stop();
  }
}

describe('a worker killed', () => {
  it('mid-backup: a new worker finishes it, copies only what was not copied, and the counts are right', async () => {
    const seeded = await seedCatalog(ctx, 30);
    const total = seeded.reduce((s, a) => s + a.versions[0].size, 0);
    const proxy = await startS3Proxy(ctx.config.s3.endpoint);
    const successorProxy = await startS3Proxy(ctx.config.s3.endpoint);
    proxy.hold(copiesAfter(10));
    const doomed = spawnWorker(proxy.url);
    try {
      // One batch of 4 blobs per step, so the workflow's progress moves while the worker copies.
      const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { tuning: { batchSize: 4, stepBudgetMs: 0 } });
      await frozen(proxy);
      const live = await call(`${ctx.baseUrl}/api/v2/backups/${row.id}`);
      expect(live.body.status).toBe('running');
      expect(live.body.progress).toMatchObject({ objects_total: 30, bytes_total: total });
      expect(live.body.progress.objects_done).toBeGreaterThanOrEqual(4);
      expect(live.body.progress.objects_done).toBeLessThan(30);
      await doomed.kill();
      expect(proxy.copies()).toBe(10);

      await withWorker(successorProxy.url, () => settled(ctx, row.workflow_id));
      const done = await readBackup(backupClientOf(ctx), row.id);
      expect(done).toMatchObject({
        status: 'completed',
        error: null,
        progress: { objects_total: 30, objects_done: 30, bytes_total: total, bytes_done: total, bytes_copied: total },
      });
      // The successor copied the twenty blobs the killed worker had not: none twice.
      expect(successorProxy.copies()).toBe(20);
      const lines = await manifestLines(ctx, done.manifest_key!);
      const blobs = lines.filter((l) => l.type === 'blob').map((l) => l.sha256 as string);
      expect(blobs).toHaveLength(30);
      expect(new Set(blobs).size).toBe(30);
      expect(new Set(lines.filter((l) => l.type === 'asset').map((l) => l.id)).size).toBe(30);
      expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, done.manifest_key!))).toBe(done.manifest_sha256);
      expect(await blobKeys(ctx)).toEqual(seeded.map((a) => blobKeyFor(a.versions[0].sha256)).sort());
      for (const key of await blobKeys(ctx)) expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, key))).toBe(key.split('/').pop());
      expect(await ctx.db('outbox_events').where({ subject: row.id }).pluck('type')).toEqual(['storage.backup.completed']);
    } finally {
      await doomed.kill();
      await proxy.close();
      await successorProxy.close();
    }
  }, 120_000);

  it('mid-restore: a new worker finishes it, each asset restored once with its events', async () => {
    const seeded = await seedCatalog(ctx, 24);
    const total = seeded.reduce((s, a) => s + a.versions[0].size, 0);
    const backup = await withWorker(undefined, () => runBackup(ctx));
    expect(backup.status).toBe('completed');
    // Every asset gone for good: rows and objects.
    await ctx.db('assets').delete();
    await ctx.db('outbox_events').delete();
    for (const a of seeded) await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: a.versions[0].objectKey }));

    const proxy = await startS3Proxy(ctx.config.s3.endpoint);
    const successorProxy = await startS3Proxy(ctx.config.s3.endpoint);
    proxy.hold(copiesAfter(10));
    const doomed = spawnWorker(proxy.url);
    try {
      const row = await startRestore(backupClientOf(ctx), TEST_ADMIN, backup.id, { tuning: { stepBudgetMs: 0 } });
      await frozen(proxy);
      const live = await call(`${ctx.baseUrl}/api/v2/restores/${row.id}`);
      expect(live.body.status).toBe('running');
      expect(live.body.progress.assets_total).toBe(24);
      expect(live.body.progress.assets_done).toBeGreaterThanOrEqual(1);
      expect(live.body.progress.assets_done).toBeLessThan(24);
      await doomed.kill();
      expect(proxy.copies()).toBe(10);

      await withWorker(successorProxy.url, () => settled(ctx, row.workflow_id));
      const done = await readRestore(backupClientOf(ctx), row.id);
      expect(done).toMatchObject({
        status: 'completed',
        error: null,
        failed_assets: [],
        progress: { assets_total: 24, assets_done: 24, assets_restored: 24, assets_failed: 0, objects_copied: 24, bytes_done: total, bytes_copied: total },
      });
      expect(successorProxy.copies()).toBe(14);
      for (const a of seeded) {
        const version = await ctx.db('asset_versions').where({ asset_id: a.id }).first();
        expect(version).toMatchObject({ id: a.versions[0].id, checksum_sha256: a.versions[0].sha256, version_number: 1 });
        expect(sha256(await objectBytes(ctx, ctx.config.s3.bucket, a.versions[0].objectKey))).toBe(a.versions[0].sha256);
        expect(await ctx.db('outbox_events').where({ subject: a.id }).orderBy('sequence').pluck('type')).toEqual([
          'storage.asset.created',
          'storage.version.created',
        ]);
      }
      expect(await ctx.db('restore_items').where({ restore_id: row.id }).count({ n: '*' })).toEqual([{ n: 24 }]);
    } finally {
      await doomed.kill();
      await proxy.close();
      await successorProxy.close();
    }
  }, 120_000);
});

describe('a manifest replaced while its restore runs', () => {
  it('the lines read after it began are checked again: a version pointed at another asset\u2019s object fails the restore, and that object keeps its bytes', async () => {
    const seeded = await seedCatalog(ctx, 4);
    const backup = await withWorker(undefined, () => runBackup(ctx));
    expect(backup.status).toBe('completed');
    await ctx.db('assets').delete();
    for (const a of seeded) await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: a.versions[0].objectKey }));
    const key = manifestKeyFor(backup.id);
    const lines = await manifestLines(ctx, key);
    const inOrder = lines.filter((l) => l.type === 'version').map((l) => seeded.find((a) => a.id === l.asset_id)!);
    const [victim] = inOrder;
    // A later asset, of another size (one of the same size at the victim's key would pass for a copy already made).
    const attacker = inOrder.slice(2).find((a) => a.versions[0].size !== victim.versions[0].size)!;
    // Of the same length: the manifest keeps the size its backup recorded.
    const hostile = lines.map((l) => (l.type === 'version' && l.asset_id === attacker.id ? { ...l, object_key: victim.versions[0].objectKey } : l));
    const proxy = await startS3Proxy(ctx.config.s3.endpoint);
    try {
      await withWorker(proxy.url, async () => {
        // One asset a step: the step that holds at the second asset's copy has read its lines; the next reads them anew.
        proxy.hold(copiesAfter(1));
        const row = await startRestore(backupClientOf(ctx), TEST_ADMIN, backup.id, { tuning: { stepBudgetMs: 0 } });
        await frozen(proxy);
        await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: key, Body: hostile.map((l) => `${JSON.stringify(l)}\n`).join('') }));
        proxy.release();
        await settled(ctx, row.workflow_id);
        expect(await readRestore(backupClientOf(ctx), row.id)).toMatchObject({ status: 'failed', error: expect.stringMatching(/object key/) });
      });
    } finally {
      await proxy.close();
    }
    expect(sha256(await objectBytes(ctx, ctx.config.s3.bucket, victim.versions[0].objectKey))).toBe(victim.versions[0].sha256);
  }, 120_000);
});

describe('retention', () => {
  const sweep = (asOf?: string) =>
    ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
      workflowId: `backup-retention-test-${uuidv7()}`,
      taskQueue: ctx.config.temporal.taskQueue,
      args: [{ asOf }],
    });
  const expire = (backupId: string) =>
    ctx
      .db('backup_jobs')
      .where({ id: backupId })
      .update({ expires_at: new Date(Date.now() - 86_400_000) });
  const blobExists = async (sha: string) =>
    ctx.s3
      .send(new HeadObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: blobKeyFor(sha) }))
      .then(() => true)
      .catch(() => false);

  it('removes expired backups (manifest first) and only the blobs no retained backup references', async () => {
    await withWorker(undefined, async () => {
      const [p, q] = await seedCatalog(ctx, 2);
      const old = await runBackup(ctx, { includeAllVersions: true });
      // After the old backup: q is gone, p has a second version; the newer backup holds p's two versions.
      await ctx.db('assets').where({ id: q.id }).delete();
      const [extra] = await seedCatalog(ctx, 1);
      // Its key becomes p's, as every version's key is its asset's (lib/assets/keys.ts): a restore checks it.
      const moved = objectKeyFor(p.id, extra.versions[0].id);
      const bucket = ctx.config.s3.bucket;
      await ctx.s3.send(new CopyObjectCommand({ Bucket: bucket, Key: moved, CopySource: `${bucket}/${extra.versions[0].objectKey}` }));
      await ctx.db('asset_versions').where({ asset_id: extra.id }).update({ asset_id: p.id, version_number: 2, object_key: moved });
      await ctx.db('asset_versions').where({ id: p.versions[0].id }).update({ superseded_at: new Date() });
      await ctx.db('assets').where({ id: p.id }).update({ current_version_id: extra.versions[0].id, version_count: 2, last_version_number: 2 });
      await ctx.db('assets').where({ id: extra.id }).delete();
      const newer = await runBackup(ctx, { includeAllVersions: true });
      expect(newer.progress.bytes_copied).toBe(extra.versions[0].size);

      // Not yet expired: nothing goes.
      expect(await sweep()).toEqual({ backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, unknown_backups: [], refused: null });
      await expire(old.id);
      expect(await sweep()).toEqual({ backups_removed: 1, blobs_deleted: 1, bytes_freed: q.versions[0].size, unknown_backups: [], refused: null });

      const removed = await call(`${ctx.baseUrl}/api/v2/backups/${old.id}`);
      expect(removed.body).toMatchObject({ status: 'completed', manifest_key: null, removed_at: expect.any(String) });
      expect(await keysOf(ctx, ctx.config.s3.backupBucket, 'manifests/')).toEqual([`manifests/${newer.id}.jsonl`, `manifests/${newer.id}.summary.json`]);
      expect(await blobExists(q.versions[0].sha256)).toBe(false);
      expect(await blobExists(p.versions[0].sha256)).toBe(true);
      expect(await blobExists(extra.versions[0].sha256)).toBe(true);
      expect((await call(`${ctx.baseUrl}/api/v2/backups/${old.id}/restore`, { method: 'POST', json: {} })).status).toBe(409);
      expect(await ctx.db('backup_sweep_marks').count({ n: '*' })).toEqual([{ n: 0 }]);

      // The newer backup still restores p whole.
      await ctx.db('assets').where({ id: p.id }).delete();
      await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: p.versions[0].objectKey }));
      const restore = await runRestore(ctx, newer.id);
      expect(restore).toMatchObject({ status: 'completed', progress: { assets_restored: 1, objects_copied: 2 } });
      expect(await ctx.db('asset_versions').where({ asset_id: p.id }).orderBy('version_number').pluck('checksum_sha256')).toEqual([
        p.versions[0].sha256,
        extra.versions[0].sha256,
      ]);
    });
  }, 60_000);

  it('never deletes a blob a running backup needs, and a backup being restored is not expired', async () => {
    const [r] = await seedCatalog(ctx, 1);
    const first = await withWorker(undefined, () => runBackup(ctx));
    await expire(first.id);
    // The second backup's worker is held at its first look at a blob: its manifest is registered and
    // names r's blob, which only the expired backup holds.
    const proxy = await startS3Proxy(ctx.config.s3.endpoint);
    proxy.hold((req) => req.method === 'HEAD' && req.path.includes('/blobs/'));
    try {
      await withWorker(proxy.url, async () => {
        const second = await startBackup(backupClientOf(ctx), TEST_ADMIN);
        await frozen(proxy);
        expect(await sweep()).toEqual({ backups_removed: 1, blobs_deleted: 0, bytes_freed: 0, unknown_backups: [], refused: null });
        expect(await blobExists(r.versions[0].sha256)).toBe(true);
        proxy.release();
        await settled(ctx, second.workflow_id);
        expect(await readBackup(backupClientOf(ctx), second.id)).toMatchObject({ status: 'completed', progress: { objects_done: 1, bytes_copied: 0 } });

        // A backup a restore is reading stays; once the restore is done, it can expire, and its blob goes.
        await ctx.db('assets').delete();
        const restoreRow = await ctx
          .db('backup_jobs')
          .insert({ id: uuidv7(), kind: 'restore', status: 'running', backup_id: second.id, workflow_id: 'restore-held', mode: 'missing' })
          .returning('id');
        await expire(second.id);
        expect(await sweep()).toEqual({ backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, unknown_backups: [], refused: null });
        await ctx.db('backup_jobs').where({ id: restoreRow[0].id }).update({ status: 'completed' });
        expect(await sweep()).toEqual({ backups_removed: 1, blobs_deleted: 1, bytes_freed: r.versions[0].size, unknown_backups: [], refused: null });
        expect(await blobKeys(ctx)).toEqual([]);
      });
    } finally {
      proxy.release();
      await proxy.close();
    }
  }, 90_000);
});

describe('the storage-backup schedule', () => {
  it('is created when enabled (left alone when current), takes a backup and runs retention when triggered, and goes when disabled', async () => {
    const client = ctx.temporal.client;
    const suffix = uuidv7().slice(-12);
    const scheduleId = `storage-backup-test-${suffix}`;
    const lifecycleScheduleId = `storage-lifecycle-test-${suffix}`;
    const restoreDrillScheduleId = `storage-restore-drill-test-${suffix}`;
    const scrubScheduleId = `storage-scrub-test-${suffix}`;
    const config = { ...ctx.config, backups: { ...ctx.config.backups, enabled: true, cron: '15 2 * * *' } };
    try {
      expect(
        await ensureSchedules(ctx.temporal.connection, config, { backupScheduleId: scheduleId, lifecycleScheduleId, restoreDrillScheduleId, scrubScheduleId }),
      ).toEqual({
        lifecycle: 'created',
        backup: 'created',
        restoreDrill: 'created',
        scrub: 'created',
      });
      const opts = { enabled: true, cron: '15 2 * * *', taskQueue: ctx.config.temporal.taskQueue, scheduleId };
      expect(await ensureBackupSchedule(client, opts)).toBe('unchanged');
      const description = await client.schedule.getHandle(scheduleId).describe();
      expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'scheduledBackupWorkflow', taskQueue: ctx.config.temporal.taskQueue });
      expect(description.policies.overlap).toBe('SKIP');
      const next = description.info.nextActionTimes[0];
      expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([2, 15]);
      expect(await ensureBackupSchedule(client, { ...opts, cron: '0 4 * * *' })).toBe('updated');

      await seedCatalog(ctx, 2, { versions: 2 });
      await withWorker(undefined, async () => {
        await client.schedule.getHandle(scheduleId).trigger();
        const row = await waitUntil(
          'the scheduled backup to complete',
          () => ctx.db('backup_jobs').where({ kind: 'backup', trigger: 'schedule', status: 'completed' }).first(),
          60_000,
        );
        expect(row).toMatchObject({ label: 'scheduled', scope: { include_all_versions: true }, counts: expect.objectContaining({ assets: 2, versions: 4 }) });
        const backup = await client.workflow.getHandle(`backup-${row.id}`).describe();
        expect(backup.parentExecution?.workflowId).toMatch(new RegExp(`^backup-scheduled-${scheduleId}-`));
        expect(backup.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toContainEqual(['StorageOperation', 'backup']);
        // Then the retention sweep, as the scheduled run's second child.
        const scheduled = await client.workflow.getHandle(backup.parentExecution!.workflowId!).result();
        expect(scheduled).toMatchObject({ backupId: row.id, backup: { status: 'completed' }, retention: { backups_removed: 0, blobs_deleted: 0 } });
        expect((await client.workflow.getHandle(`backup-retention-${row.id}`).describe()).status.name).toBe('COMPLETED');
      });

      expect(await ensureBackupSchedule(client, { ...opts, enabled: false })).toBe('deleted');
      expect(await ensureBackupSchedule(client, { ...opts, enabled: false })).toBe('absent');
    } finally {
      for (const id of [scheduleId, lifecycleScheduleId, restoreDrillScheduleId, scrubScheduleId])
        await client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
    }
  }, 90_000);
});
