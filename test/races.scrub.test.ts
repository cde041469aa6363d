/**
 * Issue 28, concurrency: the scrub's orphan removal meets a writer of the same key. An object no row
 * names (an asset's rows lost, its object left behind) is an orphan to the scrub; a restore from a
 * backup puts that very key back and commits its rows. The scrub is held just before it removes the
 * object (lib/assets/pausePoints.ts, `orphan-checked`), the restore runs to its end, then the scrub
 * goes on: the restored version must keep its object (the scrub re-checks under the key's lock, which
 * the restore's commit takes too). Held under that lock instead, the scrub removes the object first:
 * the restore's commit, waiting for the lock, finds it gone and copies it again. A scrub about to put
 * back a version's missing object meets the permanent deletion of its asset: held before its copy
 * (`version-repairing`) while the deletion runs to its end, it must not leave the object behind. A
 * repair of a version marked damaged whose attempt dies after its copy (`version-copied`, crashed)
 * must not leave the right bytes under the damage mark.
 */
import { holdAt } from '../lib/assets/pausePoints';
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { headObject } from '../lib/platform/storedObjects';
import { bytesOf, download, sha256 } from './support/assets';
import { resetAll, runBackup, runRestore } from './support/backups';
import { addAsset } from './support/catalog';
import { startTestService, type TestContext } from './support/context';
import { startRestore } from '../lib/backups/backupRuns';
import { TEST_ADMIN } from './support/auth';
import { backupClientOf, settled } from './support/backups';
import { call } from './support/http';
import { waitUntil } from './support/processes';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({ STORAGE_SCRUB_GRACE_HOURS: '0', STORAGE_SCRUB_MULTIPART_AGE_HOURS: '0' });
});
afterAll(async () => {
  await ctx?.stop();
});
afterEach(async () => {
  await resetAll(ctx);
  await ctx.db.raw('TRUNCATE scrubs, scrub_findings');
});

async function startScrubOverHttp(): Promise<string> {
  const started = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: {} });
  expect(started.status).toBe(202);
  return started.headers.get('location')!;
}

async function scrubEnded(location: string) {
  await waitUntil(
    'the scrub to end',
    async () => {
      const res = await call(`${ctx.baseUrl}${location}`);
      return res.body.done ? res.body : undefined;
    },
    120_000,
    250,
  );
  return (await ctx.db('scrubs').first()) as { status: string; counts: Record<string, number> };
}

/** An asset of one version, backed up, whose rows the catalog then loses: its object is an orphan. */
async function orphanedAsset() {
  const bytes = bytesOf(4000);
  const created = await addAsset(ctx.baseUrl, bytes, { name: 'race/scrub-orphan.bin' });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  const { object_key: key } = await ctx.db('asset_versions').where({ asset_id: assetId }).first('object_key');
  const backup = await runBackup(ctx);
  expect(backup.status).toBe('completed');
  await ctx.db('assets').where({ id: assetId }).del();
  expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key })).toBeDefined();
  return { bytes, assetId, key, backupId: backup.id };
}

/** How many of this database's sessions wait for an advisory lock. */
async function waitingForAdvisoryLocks(): Promise<number> {
  const { rows } = await ctx.db.raw(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
  );
  return rows[0].n;
}

async function expectRestoredWithObject(assetId: string, key: string, bytes: Buffer) {
  expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key })).toBeDefined();
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(content.status).toBe(200);
  expect(sha256(content.body)).toBe(sha256(bytes));
}

it('a scrub holding the key removes the orphan first: the restore waiting to commit finds it gone and copies it again', async () => {
  const { bytes, assetId, key, backupId } = await orphanedAsset();
  const hold = holdAt('orphan-locked', [key]);
  let location: string | undefined;
  let restoreRun: Promise<void> | undefined;
  let restoreId: string | undefined;
  try {
    location = await startScrubOverHttp();
    await hold.reached;
    const row = await startRestore(backupClientOf(ctx), TEST_ADMIN, backupId, { mode: 'missing' });
    restoreId = row.id;
    restoreRun = settled(ctx, row.workflow_id);
    await waitUntil('the restore to wait for the key lock', async () => (await waitingForAdvisoryLocks()) > 0, 60_000);
  } finally {
    hold.release();
  }
  const scrub = await scrubEnded(location!);
  expect(scrub.status).toBe('completed');
  expect(scrub.counts.orphan_object).toBe(1);
  await restoreRun;
  const item = await ctx.db('restore_items').where({ restore_id: restoreId, asset_id: assetId }).first();
  expect(item.status).toBe('restored');
  await expectRestoredWithObject(assetId, key, bytes);
});

it('an orphan the scrub is about to remove, restored from a backup meanwhile, keeps its object', async () => {
  const { bytes, assetId, key, backupId } = await orphanedAsset();

  const hold = holdAt('orphan-checked', [key]);
  let location: string | undefined;
  try {
    location = await startScrubOverHttp();
    await hold.reached;
    const restore = await runRestore(ctx, backupId, { mode: 'missing' });
    expect(restore.status).toBe('completed');
    expect((await ctx.db('asset_versions').where({ asset_id: assetId })).length).toBe(1);
  } finally {
    hold.release();
  }
  const scrub = await scrubEnded(location!);
  expect(scrub.status).toBe('completed');

  expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key })).toBeDefined();
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(content.status).toBe(200);
  expect(sha256(content.body)).toBe(sha256(bytes));
  expect(scrub.counts.orphan_object).toBe(0);
});

it('a missing object the scrub is about to put back, whose asset is deleted for good meanwhile, is not left behind', async () => {
  const bytes = bytesOf(3000);
  const created = await addAsset(ctx.baseUrl, bytes, { name: 'race/scrub-repair.bin' });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  const version = await ctx.db('asset_versions').where({ asset_id: assetId }).first('id', 'object_key');
  expect((await runBackup(ctx)).status).toBe('completed');
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key }));

  const hold = holdAt('version-repairing', [version.id]);
  let location: string | undefined;
  try {
    location = await startScrubOverHttp();
    await hold.reached;
    const deleted = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
    expect([200, 202, 204]).toContain(deleted.status);
    await waitUntil('the asset to be gone', async () => (await ctx.db('assets').where({ id: assetId }).first()) === undefined, 60_000);
  } finally {
    hold.release();
  }
  const scrub = await scrubEnded(location!);
  expect(scrub.status).toBe('completed');
  expect(scrub.counts.missing_object).toBe(1);
  const left = await ctx.s3.send(new ListObjectsV2Command({ Bucket: ctx.config.s3.bucket, Prefix: `assets/${assetId}/` }));
  expect((left.Contents ?? []).map((o) => o.Key)).toEqual([]);
  const repaired = await ctx.db('audit_log').where({ action: 'scrub.version_repaired' });
  expect(repaired).toEqual([]);
});

it('a repair of a damaged version whose attempt dies after its copy: the retried scrub leaves the version undamaged, its content served', async () => {
  const bytes = bytesOf(2500);
  const damaged = await addAsset(ctx.baseUrl, bytes, { name: 'race/scrub-damaged.bin' });
  const twin = await addAsset(ctx.baseUrl, bytes, { name: 'race/scrub-twin.bin' });
  expect([damaged.status, twin.status]).toEqual([201, 201]);
  const version = await ctx.db('asset_versions').where({ asset_id: damaged.body.id }).first('id', 'object_key');
  // An earlier scrub found its object missing and no copy anywhere; the twin's upload since holds the content.
  await ctx.db('asset_versions').where({ id: version.id }).update({ damaged_at: ctx.db.fn.now(), damage: 'its object is missing' });
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key }));
  expect((await download(`${ctx.baseUrl}/api/v2/assets/${damaged.body.id}/content`)).status).toBe(409);

  const hold = holdAt('version-copied', [version.id]);
  let location: string | undefined;
  try {
    const started = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { sample_percent: 100 } });
    expect(started.status).toBe(202);
    location = started.headers.get('location')!;
    await hold.reached;
    hold.crash('the worker died after the repair copied the bytes back');
  } finally {
    hold.release();
  }
  expect((await scrubEnded(location!)).status).toBe('completed');
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${damaged.body.id}/content`);
  expect(content.status).toBe(200);
  expect(sha256(content.body)).toBe(sha256(bytes));
  expect(await ctx.db('asset_versions').where({ id: version.id }).first('damaged_at')).toEqual({ damaged_at: null });
});
