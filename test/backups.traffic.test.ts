/**
 * Backups under ordinary traffic: contents deleted while a backup runs (a permanent delete, a prune
 * past STORAGE_MAX_VERSIONS, a lifecycle version expiry and purge) are handed to the backup before
 * they go (lib/backups/handoff.ts), so the backup completes and restores exactly what its snapshot
 * held. "Exactly": after the catalog and the asset bucket are wiped and the backup restored, every
 * asset reads as it did, and a new backup of the restored catalog writes the same manifest.
 */
import { DeleteObjectCommand, DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowNotFoundError } from '@temporalio/common';
import { readBackup, startBackup } from '../lib/backups/backupRuns';
import { blobKeyFor, type BackupJson } from '../lib/backups/catalog';
import { headObject } from '../lib/platform/storedObjects';
import { uuidv7 } from '../lib/platform/ids';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';
import type { scheduledBackupWorkflow } from '../workflows/backups/backup';
import { ensureBackupSchedule } from '../worker/schedules';
import { mapLimit } from '../lib/platform/concurrency';
import { bytesOf, sha256 } from './support/assets';
import { TEST_ADMIN } from './support/auth';
import {
  backupClientOf,
  comparable,
  manifestLines,
  objectBytes,
  resetAll,
  runBackup,
  runRestore,
  seedCatalog,
  settled,
  viewAsset,
  type AssetView,
} from './support/backups';
import { addAsset, addVersion, keysOf } from './support/catalog';
import { useTestService } from './support/context';
import { call } from './support/http';
import { createPolicyRow, runSweep, seedAssets } from './support/lifecycle';
import { waitUntil } from './support/processes';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';

const ctx = useTestService(
  { STORAGE_MAX_VERSIONS: '2', STORAGE_UPLOAD_WAIT_SECONDS: '60', STORAGE_BACKUP_ATTEMPTS: '2', STORAGE_BACKUP_RETRY_DELAY_SECONDS: '1' },
  { worker: false },
);
afterEach(async () => {
  await ctx.db.raw('TRUNCATE lifecycle_runs, policy_rules, lifecycle_policies CASCADE');
  await resetAll(ctx);
});

async function withWorker<T>(work: () => Promise<T>): Promise<T> {
  const worker = await ctx.startWorker();
  try {
    return await work();
  } finally {
    await worker.stop();
  }
}

/**
 * A worker reaching S3 through a proxy that holds the requests `rule` picks. On the way out the proxy
 * lets everything through before the worker stops (a worker stops once its activities have ended).
 */
async function withHeldWorker<T>(rule: Parameters<S3Proxy['hold']>[0], work: (proxy: S3Proxy) => Promise<T>): Promise<T> {
  const proxy = await startS3Proxy(ctx.config.s3.endpoint);
  proxy.hold(rule);
  const worker = await ctx.startWorker({ s3Endpoint: proxy.url });
  try {
    return await work(proxy);
  } finally {
    proxy.release();
    await worker.stop();
    await proxy.close();
  }
}

const sweep = () =>
  ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
    workflowId: `backup-retention-test-${uuidv7()}`,
    taskQueue: ctx.config.temporal.taskQueue,
    args: [{}],
  });

const blobOf = (sha256: string) => headObject(ctx.s3, { bucket: ctx.config.s3.backupBucket, key: blobKeyFor(sha256) });

async function deletePermanently(assetId: string): Promise<void> {
  const res = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  if (res.status === 202) await settled(ctx, res.body.workflow_id);
  else expect(res.status).toBe(204);
}

/** The catalog's assets and the asset bucket, gone; backups and the backup bucket stay. */
async function loseEverything(): Promise<void> {
  await ctx.db.raw('TRUNCATE upload_parts, upload_sessions, asset_metadata, asset_versions, assets, owner_usage CASCADE');
  const keys = await keysOf(ctx, ctx.config.s3.bucket);
  for (let i = 0; i < keys.length; i += 1000) {
    await ctx.s3.send(
      new DeleteObjectsCommand({ Bucket: ctx.config.s3.bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
  }
}

/**
 * A manifest's assets, versions and blobs as a comparison sees them: an asset's updated_at and
 * revision left out (a restore is a change: the revision goes on past the backup's), and its revision
 * apart. The record lines (policies, history, the audit log) are another restore's concern.
 */
async function snapshotOf(backup: BackupJson) {
  const lines = (await manifestLines(ctx, backup.manifest_key!)).filter((l) => ['asset', 'version', 'blob'].includes(l.type));
  const revisions = new Map<string, number>();
  const comparable = lines.map((line) => {
    if (line.type !== 'asset') return line;
    const { updated_at: _updated, revision, ...asset } = line;
    revisions.set(asset.id as string, revision as number);
    return asset;
  });
  return { lines: comparable, revisions };
}

/**
 * Restores `backup` into an empty catalog and bucket, and checks the result is its snapshot exactly:
 * a backup of the restored catalog writes the same lines (each revision only grown), and every
 * version's object hashes to its checksum.
 */
async function expectRestoresExactly(backup: BackupJson): Promise<void> {
  await loseEverything();
  const restore = await runRestore(ctx, backup.id);
  expect(restore).toMatchObject({ status: 'completed', error: null, progress: { assets_failed: 0 } });
  const again = await runBackup(ctx, { includeAllVersions: backup.scope.include_all_versions });
  expect(again.status).toBe('completed');
  const [expected, restored] = [await snapshotOf(backup), await snapshotOf(again)];
  expect(restored.lines).toEqual(expected.lines);
  for (const [id, revision] of expected.revisions) expect(restored.revisions.get(id)).toBeGreaterThan(revision);
  const versions = expected.lines.filter((l) => l.type === 'version') as unknown as Array<{ object_key: string; checksum_sha256: string }>;
  await mapLimit(versions, 8, async (v) => expect(sha256(await objectBytes(ctx, ctx.config.s3.bucket, v.object_key))).toBe(v.checksum_sha256));
}

describe('a deletion between the snapshot and the copy', () => {
  it('a permanent delete, a prune, a version expiry and a purge, while the backup is held after its snapshot: all done at once, and the backup completes and restores exactly', async () => {
    const [kept, deleted, pruned, expired, purged] = await seedAssets(ctx, [
      { name: 'kept.png' },
      { name: 'deleted.png' },
      { name: 'pruned.png', noncurrentDaysAgo: [1] },
      { name: 'aged/expired.png', noncurrentDaysAgo: [5] },
      { name: 'aged/purged.png', deletedDaysAgo: 5, noncurrentDaysAgo: [6] },
    ]);
    const assets = [kept, deleted, pruned, expired, purged];
    const before = new Map<string, AssetView | undefined>();
    for (const a of assets) before.set(a.id, await viewAsset(ctx, a.id));
    const policyId = await createPolicyRow(ctx, {
      name: 'aged',
      filter: { name_prefix: 'aged/' },
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 1 },
        { action: 'purge_deleted', days: 1 },
      ],
    });

    // The backup's worker is held at its first look at a blob: the snapshot is taken and registered,
    // nothing is copied yet. The deletions run on the same worker, through the same proxy.
    await withHeldWorker(
      (req, log) => req.method === 'HEAD' && req.path.includes('/blobs/') && !log.some((r) => r.held),
      async (proxy) => {
        const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { includeAllVersions: true, tuning: { batchSize: 1 } });
        await waitUntil('the backup to be held at its first blob', async () => proxy.held() > 0 && proxy.inFlight() === 0, 90_000, 50);

        await deletePermanently(deleted.id);
        await addVersion(ctx.baseUrl, pruned.id, bytesOf(300));
        await waitUntil('the oldest version to be pruned', async () => !(await ctx.db('asset_versions').where({ id: pruned.versions[0].id }).first()));
        const sweep = await runSweep(ctx, { policyId });
        expect(sweep).toMatchObject({ status: 'completed', versions_expired: 1, assets_purged: 1 });
        // Gone from the bucket while the backup still had to copy them.
        for (const key of [deleted.versions[0], pruned.versions[0], expired.versions[0], ...purged.versions].map((v) => v.objectKey)) {
          expect(await keysOf(ctx, ctx.config.s3.bucket, key)).toEqual([]);
        }
        expect(proxy.held()).toBe(1);

        proxy.release();
        await settled(ctx, row.workflow_id);
        const backup = await readBackup(backupClientOf(ctx), row.id);
        expect(backup).toMatchObject({ status: 'completed', error: null, counts: { assets: 5, versions: 8 } });

        await expectRestoresExactly(backup);
        for (const a of assets) expect(comparable(await viewAsset(ctx, a.id))).toEqual(comparable(before.get(a.id)));
      },
    );
  }, 180_000);
});

describe('a deletion begun before the snapshot', () => {
  it('is left out of it: a permanent delete and a version expiry held at their object deletion are not in the backup, which restores exactly', async () => {
    const [kept, gone, expired] = await seedAssets(ctx, [{ name: 'kept.png' }, { name: 'gone.png' }, { name: 'aged/expired.png', noncurrentDaysAgo: [5] }]);
    const policyId = await createPolicyRow(ctx, {
      name: 'aged',
      filter: { name_prefix: 'aged/' },
      rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 1 }],
    });
    // Every DeleteObjects is held: both deletions have marked what they delete, and stop there.
    await withHeldWorker(
      (req) => req.method === 'POST' && /[?&]delete/.test(req.path),
      async (proxy) => {
        const deletion = await call(`${ctx.baseUrl}/api/v2/assets/${gone.id}?permanent=true`, { method: 'DELETE' });
        expect(deletion.status).toBe(202);
        const sweepRun = runSweep(ctx, { policyId });
        await waitUntil('both deletions to be held at their object deletion', async () => proxy.held() === 2);

        const backup = await runBackup(ctx, { includeAllVersions: true });
        expect(backup).toMatchObject({ status: 'completed', counts: { assets: 2, versions: 2 } });
        const lines = await manifestLines(ctx, backup.manifest_key!);
        expect(
          lines
            .filter((l) => l.type === 'asset')
            .map((l) => [l.id, l.version_count])
            .sort(),
        ).toEqual(
          [
            [kept.id, 1],
            [expired.id, 1],
          ].sort(),
        );
        expect(
          lines
            .filter((l) => l.type === 'version')
            .map((l) => l.id)
            .sort(),
        ).toEqual([kept.versions[0].id, expired.versions[1].id].sort());

        proxy.release();
        await settled(ctx, deletion.body.workflow_id);
        expect(await sweepRun).toMatchObject({ status: 'completed', versions_expired: 1 });
        await expectRestoresExactly(backup);
      },
    );
  }, 180_000);
});

describe('what a running backup was handed', () => {
  it('is kept by retention from before the backup registers its manifest, and the backup takes it', async () => {
    const [handed, other] = await seedCatalog(ctx, 2);
    // Held writing its manifest: the snapshot is taken, the manifest not registered.
    await withHeldWorker(
      (req, log) => req.method === 'PUT' && req.path.includes('/manifests/') && !log.some((r) => r.held),
      async (proxy) => {
        const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { tuning: { batchSize: 1 } });
        await waitUntil('the backup to be held writing its manifest', async () => proxy.held() > 0 && proxy.inFlight() === 0, 90_000, 50);
        await deletePermanently(handed.id);
        expect(await blobOf(handed.versions[0].sha256)).toMatchObject({
          sizeBytes: handed.versions[0].size,
          metadata: { 'handed-off-from': handed.versions[0].id },
        });
        expect(await sweep()).toMatchObject({ backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, refused: null });

        proxy.release();
        await settled(ctx, row.workflow_id);
        const backup = await readBackup(backupClientOf(ctx), row.id);
        const total = handed.versions[0].size + other.versions[0].size;
        expect(backup).toMatchObject({ status: 'completed', progress: { objects_done: 2, bytes_copied: total } });
        // Checked and taken as the backup's own.
        expect((await blobOf(handed.versions[0].sha256))?.metadata).toEqual({ 'backup-id': row.id, sha256: handed.versions[0].sha256 });
        expect(await ctx.db('backup_handoffs')).toEqual([]);
        await expectRestoresExactly(backup);
      },
    );
  }, 180_000);

  it('by a backup that died: deletions hand off to it only until its lease lapses, and retention then removes what it was handed', async () => {
    await seedCatalog(ctx, 1);
    await withHeldWorker(
      (req, log) => req.method === 'HEAD' && req.path.includes('/blobs/') && !log.some((r) => r.held),
      async (proxy) => {
        const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { tuning: { batchSize: 1 } });
        await waitUntil('the backup to be held at its first blob', async () => proxy.held() > 0 && proxy.inFlight() === 0, 90_000, 50);
        // It dies where it stands: its row still says running, its lease is live.
        await ctx.temporal.client.workflow.getHandle(row.workflow_id).terminate('the worker is gone');
        // Assets made after its snapshot: a deletion cannot tell, and hands their contents to it all the same.
        const [handed, unhanded] = await seedCatalog(ctx, 2);
        await deletePermanently(handed.id);
        expect(await blobOf(handed.versions[0].sha256)).toBeDefined();
        expect(await sweep()).toMatchObject({ backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, refused: null });

        // Its lease lapses (HANDOFF_LEASE_MS after its last renewal): nothing more is handed to it,
        // and what it was handed is no longer kept.
        await ctx
          .db('backup_jobs')
          .where({ id: row.id })
          .update({ handoff_until: ctx.db.raw("now() - interval '1 second'") });
        await deletePermanently(unhanded.id);
        expect(await blobOf(unhanded.versions[0].sha256)).toBeUndefined();
        expect(await sweep()).toMatchObject({ backups_removed: 0, blobs_deleted: 1, bytes_freed: handed.versions[0].size });
        expect(await keysOf(ctx, ctx.config.s3.backupBucket, 'blobs/')).toEqual([]);
      },
    );
  }, 180_000);
});

describe('a deletion that ends while a backup reads its source', () => {
  it('hands the content off first: the backup finds it at its address once the source is gone, completes, and restores exactly', async () => {
    const [asset] = await seedCatalog(ctx, 1);
    const objectKey = asset.versions[0].objectKey;
    // The backup's read of the source object is held: it found the blob not at its address, and goes to the source.
    await withHeldWorker(
      (req) => req.method === 'GET' && req.path.includes(objectKey),
      async (proxy) => {
        const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, { includeAllVersions: true });
        await waitUntil("the backup's read of the source to be held", async () => proxy.held() === 1);

        await deletePermanently(asset.id);
        expect(await blobOf(asset.versions[0].sha256)).toBeDefined();
        expect(await keysOf(ctx, ctx.config.s3.bucket)).toEqual([]);

        proxy.release();
        await settled(ctx, row.workflow_id);
        const backup = await readBackup(backupClientOf(ctx), row.id);
        expect([backup.status, backup.error]).toEqual(['completed', null]);
        await expectRestoresExactly(backup);
      },
    );
  }, 180_000);
});

describe('ten clients deleting recent uploads', () => {
  it('three backups started meanwhile all complete, and each restores exactly', async () => {
    await seedCatalog(ctx, 30);
    const clients = 10;
    await withWorker(async () => {
      // Each client keeps two recent uploads of its own; each turn it uploads one more and
      // permanently deletes its oldest, until the backups have ended (bounded in turns and time).
      const recent: string[][] = await mapLimit(
        Array.from({ length: clients }, (_, i) => i),
        clients,
        async (i) => [
          (await addAsset(ctx.baseUrl, bytesOf(1000 + i), { name: `client-${i}-a.bin` })).body.id,
          (await addAsset(ctx.baseUrl, bytesOf(2000 + i), { name: `client-${i}-b.bin` })).body.id,
        ],
      );
      let backupsEnded = false;
      let deletions = 0;
      const deadline = Date.now() + 240_000;
      const client = async (i: number) => {
        for (let turn = 0; turn < 60 && !backupsEnded && Date.now() < deadline; turn++) {
          recent[i].push((await addAsset(ctx.baseUrl, bytesOf(500 + turn), { name: `client-${i}-${turn}.bin` })).body.id);
          await deletePermanently(recent[i].shift()!);
          deletions++;
        }
      };
      const running = Array.from({ length: clients }, (_, i) => client(i));
      try {
        const atStart = deletions;
        const rows = await Promise.all(
          [0, 1, 2].map(() => startBackup(backupClientOf(ctx), TEST_ADMIN, { includeAllVersions: true, tuning: { batchSize: 2, stepBudgetMs: 0 } })),
        );
        await Promise.all(rows.map((row) => settled(ctx, row.workflow_id)));
        const during = deletions - atStart;
        backupsEnded = true;
        await Promise.all(running);
        const backups = await Promise.all(rows.map((row) => readBackup(backupClientOf(ctx), row.id)));
        expect(backups.map((b) => [b.status, b.error])).toEqual([
          ['completed', null],
          ['completed', null],
          ['completed', null],
        ]);
        expect(during).toBeGreaterThanOrEqual(clients);
        for (const backup of backups) await expectRestoresExactly(backup);
      } finally {
        backupsEnded = true;
        await Promise.allSettled(running);
      }
    });
  }, 420_000);
});

describe('a scheduled backup that fails', () => {
  const retentionRunOf = (backupId: string) => ctx.temporal.client.workflow.getHandle(`backup-retention-${backupId}`).describe();
  const scheduledBackups = () => ctx.db('backup_jobs').where({ kind: 'backup', trigger: 'schedule' }).orderBy('id');

  it('is taken again within its window, and retention runs only after the backup that completed', async () => {
    const [broken] = await seedCatalog(ctx, 2);
    const lost = { Bucket: ctx.config.s3.bucket, Key: broken.versions[0].objectKey };
    const bytes = await objectBytes(ctx, lost.Bucket, lost.Key);
    await ctx.s3.send(new DeleteObjectCommand(lost));
    const scheduleId = `storage-backup-test-${uuidv7().slice(-12)}`;
    const schedule = ctx.temporal.client.schedule.getHandle(scheduleId);
    // The second attempt is held writing its manifest; the first one's passes.
    const secondManifest = (req: { method: string; path: string }, log: Array<{ method: string; path: string; held: boolean }>) =>
      req.method === 'PUT' &&
      req.path.includes('/manifests/') &&
      log.some((r) => r.method === 'PUT' && r.path.includes('/manifests/')) &&
      !log.some((r) => r.held);
    await withHeldWorker(secondManifest, async (proxy) => {
      await ensureBackupSchedule(ctx.temporal.client, { enabled: true, cron: '0 2 * * *', taskQueue: ctx.config.temporal.taskQueue, scheduleId });
      try {
        await schedule.trigger();
        const first = await waitUntil('the first attempt to fail', async () => (await scheduledBackups()).find((b) => b.status === 'failed'), 90_000);
        expect(first.error).toContain(broken.versions[0].id);
        await waitUntil('the second attempt to be held writing its manifest', async () => proxy.held() > 0 && proxy.inFlight() === 0, 90_000, 50);
        await expect(retentionRunOf(first.id)).rejects.toThrow(WorkflowNotFoundError);

        // The store is repaired before the second attempt copies.
        await ctx.s3.send(new PutObjectCommand({ ...lost, Body: bytes }));
        proxy.release();
        const second = await waitUntil('the second attempt to complete', async () => (await scheduledBackups()).find((b) => b.status === 'completed'), 90_000);
        const parent = (await ctx.temporal.client.workflow.getHandle(`backup-${second.id}`).describe()).parentExecution!.workflowId!;
        const run = await ctx.temporal.client.workflow.getHandle<typeof scheduledBackupWorkflow>(parent).result();
        expect(run).toMatchObject({ backupId: second.id, attempts: 2, backup: { status: 'completed' }, retention: { backups_removed: 0, blobs_deleted: 0 } });
        expect((await scheduledBackups()).map((b) => b.status)).toEqual(['failed', 'completed']);
        expect((await retentionRunOf(second.id)).status.name).toBe('COMPLETED');
        await expect(retentionRunOf(first.id)).rejects.toThrow(WorkflowNotFoundError);
      } finally {
        await schedule.delete().catch(() => undefined);
      }
    });
  }, 240_000);

  it('every attempt failing: the run fails, naming the last failure, and no retention runs', async () => {
    const [broken] = await seedCatalog(ctx, 1);
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: broken.versions[0].objectKey }));
    await withWorker(async () => {
      const run = await ctx.temporal.client.workflow.start<typeof scheduledBackupWorkflow>('scheduledBackupWorkflow', {
        workflowId: `backup-scheduled-test-${uuidv7()}`,
        taskQueue: ctx.config.temporal.taskQueue,
        args: [],
      });
      await expect(run.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(/^the scheduled backup failed 2 time\(s\), the last/) } });
      const backups = await scheduledBackups();
      expect(backups.map((b) => [b.status, b.error])).toEqual([
        ['failed', expect.stringContaining(broken.versions[0].id)],
        ['failed', expect.stringContaining(broken.versions[0].id)],
      ]);
      for (const b of backups) await expect(retentionRunOf(b.id)).rejects.toThrow(WorkflowNotFoundError);
    });
  }, 240_000);
});
