/**
 * Issue 26, finding 4: a deletion of noncurrent versions (a lifecycle version expiry, a prune past
 * STORAGE_MAX_VERSIONS) meets an `overwrite` restore that makes one of its candidates current again.
 * Each deletion is held at the point where it has picked its versions (lib/assets/pausePoints.ts),
 * the restore runs to its end, then the deletion goes on: the version the restore made current
 * keeps its object. A deletion held after its claim is waited for: the restore refuses (retryably) to
 * keep a claimed version, is let go of once it has, and copies the version back after the deletion.
 */
import { holdAt, type PausePoint } from '../lib/assets/pausePoints';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { headObject } from '../lib/platform/storedObjects';
import { bytesOf, postForm, sha256, uploadAsset, download } from './support/assets';
import { readRestore, startRestore } from '../lib/backups/backupRuns';
import type { RestoreJson } from '../lib/backups/catalog';
import { TEST_ADMIN } from './support/auth';
import { backupClientOf, runBackup, runRestore, settled } from './support/backups';
import { startTestService, type TestContext } from './support/context';
import { createPolicyRow, daysAgo, mismatches, resetCatalog, runSweep } from './support/lifecycle';

let ctx: TestContext;
beforeAll(async () => {
  // A prune takes what lies beyond the 2 newest versions; the sweep's own retention is out of reach.
  ctx = await startTestService({ STORAGE_MAX_VERSIONS: '2', STORAGE_VERSION_RETENTION_DAYS: '3650' });
});
afterAll(async () => {
  await ctx?.stop();
});
afterEach(async () => {
  await resetCatalog(ctx);
});

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An asset of one version, backed up; answers its id, its first version and that version's bytes. */
async function backedUpAsset(name: string) {
  const bytes = bytesOf(300);
  const created = await uploadAsset(ctx.baseUrl, bytes, { name });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  const first = await ctx.db('asset_versions').where({ asset_id: assetId, version_number: 1 }).first();
  const backup = await runBackup(ctx, { assetIds: [assetId] });
  expect(backup.status).toBe('completed');
  return { assetId, first: first as { id: string; object_key: string }, bytes, backupId: backup.id };
}

async function newVersion(assetId: string, name: string) {
  return postForm(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`, bytesOf(200), { name });
}

/** The restore made version 1 current again, and its object, bytes and row agree. */
async function expectCurrentWithObject(assetId: string, version: { id: string; object_key: string }, bytes: Buffer) {
  const asset = await ctx.db('assets').where({ id: assetId }).first();
  expect(asset.current_version_id).toBe(version.id);
  expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key: version.object_key })).toBeDefined();
  expect(await mismatches(ctx, [assetId])).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(content.status).toBe(200);
  expect(sha256(content.body)).toBe(sha256(bytes));
}

it('a version expiry that picked a version an overwrite restore then made current leaves its object', async () => {
  const { assetId, first, bytes, backupId } = await backedUpAsset('race/expiry.bin');
  expect((await newVersion(assetId, 'race/expiry.bin')).status).toBe(201);
  await ctx
    .db('asset_versions')
    .where({ id: first.id })
    .update({ superseded_at: daysAgo(30) });
  await createPolicyRow(ctx, { name: 'noncurrent', rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 1 }] });

  const hold = holdAt('versions-picked', [assetId]);
  try {
    const sweep = runSweep(ctx);
    await within(hold.reached, 60_000, 'the sweep to pick the version');
    const restore = await runRestore(ctx, backupId, { mode: 'overwrite' });
    expect(restore.status).toBe('completed');
    hold.release();
    const run = await within(sweep, 60_000, 'the sweep to end');
    expect(run.status).toBe('completed');
    expect(run.versions_expired).toBe(0);
  } finally {
    hold.release();
  }
  await expectCurrentWithObject(assetId, first, bytes);
});

/**
 * An overwrite restore: `ended` its answer, `waiting` once it has ended or has refused at least once (a
 * step of it on its second attempt) and waits for a deletion; polling stops when `ended` settles.
 */
async function overwriteRestore(backupId: string): Promise<{ ended: Promise<RestoreJson>; waiting: Promise<unknown> }> {
  const row = await startRestore(backupClientOf(ctx), TEST_ADMIN, backupId, { mode: 'overwrite' });
  let over = false;
  const ended = settled(ctx, row.workflow_id)
    .then(() => readRestore(backupClientOf(ctx), row.id))
    .finally(() => (over = true));
  const handle = ctx.temporal.client.workflow.getHandle(row.workflow_id);
  const refused = (async () => {
    while (!over) {
      const { raw } = await handle.describe();
      if ((raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) >= 2)) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return { ended, waiting: Promise.race([ended, refused]) };
}

/** A third version's commit makes the first go past STORAGE_MAX_VERSIONS; its prune is held at `point` while an overwrite restore runs. */
async function pruneMeetingRestore(point: PausePoint) {
  const { assetId, first, bytes, backupId } = await backedUpAsset('race/prune.bin');
  expect((await newVersion(assetId, 'race/prune.bin')).status).toBe(201);

  const hold = holdAt(point, [assetId]);
  try {
    const third = newVersion(assetId, 'race/prune.bin');
    await within(hold.reached, 60_000, `the prune to reach ${point}`);
    const { upload_id: uploadId } = await ctx.db('asset_versions').where({ asset_id: assetId, version_number: 3 }).first('upload_id');
    const restore = await overwriteRestore(backupId);
    await within(restore.waiting, 60_000, 'the restore to end, or to wait for the prune');
    hold.release();
    expect((await within(restore.ended, 90_000, 'the restore to end')).status).toBe('completed');
    await within(third, 60_000, 'the third version to be answered');
    await within(ctx.temporal.client.workflow.getHandle(uploadWorkflowId(uploadId)).result(), 60_000, 'the upload run (and its prune) to end');
  } finally {
    hold.release();
  }
  await expectCurrentWithObject(assetId, first, bytes);
}

it('a prune that picked a version an overwrite restore then made current leaves its object', async () => {
  await pruneMeetingRestore('versions-picked');
});

// The restore finds the version's object in place, but the prune has claimed it and deletes the object
// whenever it goes on: the restore refuses (retryably) to keep the version until the prune has ended,
// then copies it back from its blob (lib/backups/restore.ts).
it('a prune that claimed a version an overwrite restore then made current leaves its object', async () => {
  await pruneMeetingRestore('versions-claimed');
}, 180_000);
