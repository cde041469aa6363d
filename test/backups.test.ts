/**
 * Backups and restores over HTTP against the real stack: the round trip (every byte and every field
 * back, in both modes), incremental backups, large objects copied by parts, corrupt and missing
 * blobs failing only their asset, a backup whose source is gone, and bad input.
 */
import { DeleteObjectCommand, DeleteObjectsCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { blobKeyFor } from '../lib/backups/catalog';
import { bytesOf, download, sha256, type UploadFields } from './support/assets';
import { startBackup } from '../lib/backups/backupRuns';
import {
  awaitJob,
  backupClientOf,
  blobKeys,
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
import { TEST_ADMIN } from './support/auth';
import { call } from './support/http';
import { recordHistories, replay } from './support/replay';
import { commitRestoredAsset } from '../lib/backups/restore';
import { auditWriterOf } from '../lib/audit/log';
import type { AssetLine } from '../lib/backups/manifest';
import { uuidv7 } from '../lib/platform/ids';

const MiB = 1024 * 1024;

const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '60' });
afterEach(async () => {
  await resetAll(ctx);
});

const upload = async (file: Buffer, fields: UploadFields = {}): Promise<string> =>
  (await addAsset(ctx.baseUrl, file, { name: 'asset.bin', ...fields })).body.id;
const newVersion = async (assetId: string, file: Buffer): Promise<string> => (await addVersion(ctx.baseUrl, assetId, file)).body.id;

async function deletePermanently(assetId: string): Promise<void> {
  const res = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  if (res.status === 202) await settled(ctx, res.body.workflow_id);
  else expect(res.status).toBe(204);
  expect(await viewAsset(ctx, assetId)).toBeUndefined();
  expect(await keysOf(ctx, ctx.config.s3.bucket, `assets/${assetId}/`)).toEqual([]);
}

async function eventsOf(subject: string): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
  return ctx.db('outbox_events').where({ subject }).orderBy('sequence').select('type', 'data');
}

async function postJson(path: string, json?: unknown, headers: Record<string, string> = {}) {
  return call(`${ctx.baseUrl}${path}`, { method: 'POST', json, headers });
}

describe('round trip', () => {
  it('backs up versions, metadata and tags, and restores every byte and field in both modes', async () => {
    // A: three versions (the third a copy of the first: one content, one blob), permanently deleted later.
    const a1 = bytesOf(3000);
    const a = await upload(a1, {
      name: 'Élara portrait ✨.png',
      content_type: 'image/png',
      metadata: '{"character":"Elara","kind":"portrait"}',
      tags: 'portrait,elf',
    });
    await newVersion(a, bytesOf(2500));
    const a1Version = (await ctx.db('asset_versions').where({ asset_id: a, version_number: 1 }).first()).id;
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${a}/versions/${a1Version}/restore`, { method: 'POST' })).status).toBe(201);
    // B: two versions, soft-deleted later.
    const b = await upload(bytesOf(4000), { name: 'Sword Coast.tif', content_type: 'image/tiff', metadata: '{"region":"west"}', tags: 'map' });
    await newVersion(b, bytesOf(4100));
    // C: two versions; later a third one and new metadata.
    const c = await upload(bytesOf(1200), { name: 'handout.pdf', content_type: 'application/pdf', metadata: '{"session":"3"}', tags: 'handout,draft' });
    await newVersion(c, bytesOf(1300));
    // D and E: the same bytes (one blob); E permanently deleted later.
    const shared = bytesOf(777);
    const d = await upload(shared, { name: 'sigil.png', tags: 'sigil' });
    const e = await upload(shared, { name: 'sigil copy.png', metadata: '{"copy":"yes"}' });
    // F: soft-deleted before the backup (it is backed up so), permanently deleted after.
    const f = await upload(bytesOf(900), { name: 'old notes.txt', content_type: 'text/plain' });
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${f}`, { method: 'DELETE' })).status).toBe(204);

    const ids = [a, b, c, d, e, f];
    const before = new Map<string, AssetView | undefined>();
    for (const id of ids) before.set(id, await viewAsset(ctx, id));

    const started = await postJson('/api/v2/backups', { label: 'before the session', include_all_versions: true });
    expect(started.status).toBe(202);
    // Location is its operation; the backup itself is its own resource, as before.
    expect(started.headers.get('location')).toBe(`/api/v2/operations/backup-${started.body.id}`);
    expect(started.body).toMatchObject({ label: 'before the session', scope: { include_all_versions: true }, workflow_id: `backup-${started.body.id}` });
    expect(['pending', 'running', 'completed']).toContain(started.body.status);
    const backup = await awaitJob(ctx, `/api/v2/backups/${started.body.id}`);

    // Ten versions, eight distinct contents; all new, so all copied.
    const distinct = new Map<string, number>();
    for (const v of await ctx.db('asset_versions').select('checksum_sha256', 'size_bytes')) distinct.set(v.checksum_sha256, v.size_bytes);
    const bytesTotal = [...distinct.values()].reduce((s, n) => s + n, 0);
    expect(distinct.size).toBe(8);
    expect(backup).toMatchObject({
      status: 'completed',
      error: null,
      progress: { objects_total: 8, objects_done: 8, bytes_total: bytesTotal, bytes_done: bytesTotal, bytes_copied: bytesTotal },
      counts: { assets: 6, versions: 10, blobs: 8, bytes: bytesTotal },
      manifest_key: `manifests/${backup.id}.jsonl`,
      removed_at: null,
    });
    expect(Date.parse(backup.expires_at as string) - Date.parse(backup.created_at as string)).toBe(ctx.config.backups.retentionDays * 86_400_000);

    // Every claim checks out: the blobs hash to their names, the manifest to the SHA-256 the row and the summary give.
    expect(await blobKeys(ctx)).toEqual([...distinct.keys()].map(blobKeyFor).sort());
    for (const key of await blobKeys(ctx)) expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, key))).toBe(key.split('/').pop());
    const manifestBytes = await objectBytes(ctx, ctx.config.s3.backupBucket, backup.manifest_key as string);
    expect(sha256(manifestBytes)).toBe(backup.manifest_sha256);
    const summary = JSON.parse((await objectBytes(ctx, ctx.config.s3.backupBucket, `manifests/${backup.id}.summary.json`)).toString());
    expect(summary).toMatchObject({
      backup_id: backup.id,
      manifest: { sha256: backup.manifest_sha256, size_bytes: manifestBytes.length },
      counts: backup.counts,
      bytes_copied: bytesTotal,
    });
    const lines = await manifestLines(ctx, backup.manifest_key as string);
    const records = lines.filter((l) => l.type === 'record');
    expect(lines.map((l) => l.type)).toEqual([
      'header',
      ...Array(16).fill(expect.stringMatching(/^(asset|version)$/)),
      ...records.map(() => 'record'),
      ...Array(8).fill('blob'),
      'end',
    ]);
    // A backup of every asset holds the catalog's other records too: this backup's own row (running at its snapshot), the audit log.
    expect(records).toContainEqual({ type: 'record', table: 'backup_jobs', row: expect.objectContaining({ id: backup.id, status: 'running' }) });
    expect(lines[lines.length - 1]).toMatchObject({ records: { backup_jobs: 1, audit_log: records.filter((l) => l.table === 'audit_log').length } });
    expect(lines.filter((l) => l.type === 'asset').map((l) => l.id)).toEqual([...ids].sort());
    expect(lines.find((l) => l.id === a)).toMatchObject({ metadata: { character: 'Elara', kind: 'portrait' }, tags: ['portrait', 'elf'] });
    const attributes = async (workflowId: string) =>
      (await ctx.temporal.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]);
    expect(await attributes(`backup-${backup.id}`)).toContainEqual(['StorageOperation', 'backup']);
    expect(await eventsOf(backup.id as string)).toEqual([
      {
        type: 'storage.backup.completed',
        data: expect.objectContaining({ backup_id: backup.id, manifest_sha256: backup.manifest_sha256, bytes_copied: bytesTotal }),
      },
    ]);

    // The session goes badly: three assets gone for good, one soft-deleted, one changed.
    for (const id of [a, e, f]) await deletePermanently(id);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${b}`, { method: 'DELETE' })).status).toBe(204);
    const c3 = bytesOf(1400);
    await newVersion(c, c3);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${c}`, { method: 'PUT', json: { metadata: { session: '4' }, tags: ['handout', 'final'] } })).status).toBe(
      200,
    );
    const cChanged = await viewAsset(ctx, c);
    const restoreStarted = Date.now();

    // missing: the gone and the soft-deleted come back; the live ones are left alone.
    const missing = await postJson(`/api/v2/backups/${backup.id}/restore`, { mode: 'missing', dry_run: false });
    expect(missing.status).toBe(202);
    expect(missing.headers.get('location')).toBe(`/api/v2/operations/restore-${missing.body.id}`);
    expect(missing.body).toMatchObject({ backup_id: backup.id, mode: 'missing', asset_ids: null, workflow_id: `restore-${missing.body.id}` });
    const restored = await awaitJob(ctx, `/api/v2/restores/${missing.body.id}`);
    expect(restored).toMatchObject({
      status: 'completed',
      error: null,
      failed_assets: [],
      progress: { assets_total: 6, assets_done: 6, assets_restored: 4, assets_skipped: 2, assets_failed: 0, objects_copied: 5 },
    });
    expect(await attributes(`restore-${missing.body.id}`)).toContainEqual(['StorageOperation', 'restore']);
    for (const id of [a, b, d, e, f]) expect(comparable(await viewAsset(ctx, id))).toEqual(comparable(before.get(id)));
    expect(await viewAsset(ctx, c)).toEqual(cChanged);
    for (const id of [a, b, e, f]) expect(Date.parse((await viewAsset(ctx, id))!.asset.updated_at as string)).toBeGreaterThanOrEqual(restoreStarted - 1000);
    expect((await viewAsset(ctx, f))!.asset).toMatchObject({ is_deleted: true });
    for (const id of [a, b, d, e]) {
      const got = await download(`${ctx.baseUrl}/api/v2/assets/${id}/content`);
      expect(got.status).toBe(200);
      expect(sha256(got.body)).toBe(before.get(id)!.asset.checksum_sha256);
    }
    // Restored assets write their events like any change.
    const restoredFrom = { backup_id: backup.id, restore_id: missing.body.id };
    expect((await eventsOf(a)).slice(-4)).toEqual([
      { type: 'storage.asset.created', data: expect.objectContaining({ asset_id: a, restored: restoredFrom }) },
      ...[1, 2, 3].map((n) => ({ type: 'storage.version.created', data: expect.objectContaining({ asset_id: a, version_number: n, restored: restoredFrom }) })),
    ]);
    expect((await eventsOf(b)).slice(-1)).toEqual([{ type: 'storage.asset.updated', data: expect.objectContaining({ asset_id: b, restored: restoredFrom }) }]);
    expect((await eventsOf(c)).filter((ev) => ev.data.restored)).toEqual([]);

    // overwrite: every asset exactly as backed up; C's later version is gone, object and row.
    const c3Key = (await ctx.db('asset_versions').where({ asset_id: c, version_number: 3 }).first()).object_key;
    const overwrite = await postJson(`/api/v2/backups/${backup.id}/restore`, { mode: 'overwrite', dry_run: false });
    expect(overwrite.status).toBe(202);
    const overwritten = await awaitJob(ctx, `/api/v2/restores/${overwrite.body.id}`);
    expect(overwritten).toMatchObject({ status: 'completed', progress: { assets_total: 6, assets_restored: 6, assets_failed: 0, objects_copied: 0 } });
    for (const id of ids) expect(comparable(await viewAsset(ctx, id))).toEqual(comparable(before.get(id)));
    expect(await keysOf(ctx, ctx.config.s3.bucket, c3Key)).toEqual([]);
    expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${c}/content`)).body)).toBe(before.get(c)!.asset.checksum_sha256);
    // A new version after an overwrite gets a number never used before.
    await newVersion(c, bytesOf(10));
    expect(await ctx.db('asset_versions').where({ asset_id: c }).orderBy('version_number').pluck('version_number')).toEqual([1, 2, 4]);

    // The lists.
    const backups = await call(`${ctx.baseUrl}/api/v2/backups`);
    expect(backups.body).toMatchObject({ items: [expect.objectContaining({ id: backup.id, status: 'completed' })], next_cursor: null });
    const restores = await call(`${ctx.baseUrl}/api/v2/restores?backup_id=${backup.id}&limit=1`);
    expect(restores.body.items.map((r: { id: string }) => r.id)).toEqual([overwrite.body.id]);
    const next = await call(`${ctx.baseUrl}/api/v2/restores?backup_id=${backup.id}&limit=1&cursor=${restores.body.next_cursor}`);
    expect(next.body).toMatchObject({ items: [expect.objectContaining({ id: missing.body.id })], next_cursor: null });
  }, 90_000);

  it('restores only the asset_ids asked for, and fails an id the backup does not hold', async () => {
    const [x, y] = await seedCatalog(ctx, 2);
    const backup = await runBackup(ctx);
    expect(backup.status).toBe('completed');
    await ctx.db('assets').whereIn('id', [x.id, y.id]).delete();
    const stranger = '01900000-0000-7000-8000-00000000abcd';
    const restore = await runRestore(ctx, backup.id, { assetIds: [y.id, stranger] });
    expect(restore).toMatchObject({
      status: 'failed',
      progress: { assets_total: 2, assets_done: 2, assets_restored: 1, assets_failed: 1 },
      failed_assets: [{ asset_id: stranger, error: `asset ${stranger} is not in backup ${backup.id}` }],
    });
    expect(restore.error).toContain(stranger);
    expect(await ctx.db('assets').pluck('id')).toEqual([y.id]);
  });
});

describe('owners and grants', () => {
  it('an asset comes back with its owner and its grants', async () => {
    const id = await upload(bytesOf(500), { name: 'shared.png', owner_id: 'alice' });
    const grants = [
      { subject: 'group:party', access: 'read' },
      { subject: 'user:bob', access: 'write' },
    ];
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${id}/grants`, { method: 'PUT', json: grants })).status).toBe(200);
    const before = await viewAsset(ctx, id);
    expect(before?.asset).toMatchObject({ owner_id: 'alice', grants });
    const backup = await runBackup(ctx);
    const [line] = (await manifestLines(ctx, backup.manifest_key!)).filter((l) => l.type === 'asset');
    expect(line).toMatchObject({ owner_id: 'alice', grants });

    await ctx.db('assets').where({ id }).delete();
    expect((await runRestore(ctx, backup.id)).status).toBe('completed');
    expect(comparable(await viewAsset(ctx, id))).toEqual(comparable(before));
  });

  it("an asset of a manifest written before owners existed comes back as the system's, shared with nobody", async () => {
    const backupId = uuidv7();
    const restoreId = uuidv7();
    await ctx.db('backup_jobs').insert({ id: backupId, kind: 'backup', status: 'completed', workflow_id: `backup-${backupId}` });
    await ctx
      .db('backup_jobs')
      .insert({ id: restoreId, kind: 'restore', status: 'running', backup_id: backupId, workflow_id: `restore-${restoreId}`, mode: 'missing' });
    const now = new Date().toISOString();
    const legacy: AssetLine = {
      type: 'asset',
      id: uuidv7(),
      name: 'old map.png',
      content_type: 'image/png',
      size_bytes: 0,
      checksum_sha256: null,
      current_version_id: null,
      version_count: 0,
      last_version_number: 0,
      tags: [],
      metadata: {},
      is_deleted: false,
      deleted_at: null,
      created_at: now,
      updated_at: now,
    };
    const job = { actor: null, workflow_id: `restore-${restoreId}` };
    const outcome = await commitRestoredAsset(
      ctx.db,
      { restoreId, backupId, mode: 'missing', asset: legacy, versions: [], removed: [], item: {}, job },
      auditWriterOf(true),
    );
    expect(outcome).toEqual({ done: true, versionsInserted: 0 });
    expect((await viewAsset(ctx, legacy.id))?.asset).toMatchObject({ owner_id: 'system', grants: [] });
  });
});

describe('incremental', () => {
  it('a second backup of unchanged assets copies 0 bytes; a third copies only the new version', async () => {
    const files = [bytesOf(2000), bytesOf(3000), bytesOf(4000)];
    const ids: string[] = [];
    for (const file of files) ids.push(await upload(file));
    const total = files.reduce((s, f) => s + f.length, 0);

    const first = await runBackup(ctx);
    expect(first.progress).toEqual({ objects_total: 3, objects_done: 3, bytes_total: total, bytes_done: total, bytes_copied: total });
    const blobs = await blobKeys(ctx);

    const second = await runBackup(ctx);
    expect(second).toMatchObject({
      status: 'completed',
      progress: { objects_total: 3, objects_done: 3, bytes_total: total, bytes_done: total, bytes_copied: 0 },
    });
    expect(second.manifest_key).not.toBe(first.manifest_key);
    expect(await blobKeys(ctx)).toEqual(blobs);

    const newer = bytesOf(5000);
    await newVersion(ids[1], newer);
    const third = await runBackup(ctx);
    const currentTotal = total - files[1].length + newer.length;
    expect(third.progress).toEqual({ objects_total: 3, objects_done: 3, bytes_total: currentTotal, bytes_done: currentTotal, bytes_copied: newer.length });
    expect(await blobKeys(ctx)).toEqual([...blobs, blobKeyFor(sha256(newer))].sort());
  });

  it('copies an object larger than the single-copy limit by parts, and restores it byte for byte', async () => {
    const file = bytesOf(6 * MiB + 123);
    const id = await upload(file);
    const tuning = { singleCopyMaxBytes: 5 * MiB, partSizeBytes: 5 * MiB };
    const backup = await runBackup(ctx, { tuning });
    expect(backup).toMatchObject({ status: 'completed', progress: { bytes_copied: file.length } });
    const blob = await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: blobKeyFor(sha256(file)) }));
    expect(blob.ContentLength).toBe(file.length);
    expect(blob.ETag).toMatch(/-2"?$/); // a multipart object of two parts
    expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, blobKeyFor(sha256(file))))).toBe(sha256(file));

    await deletePermanently(id);
    const restore = await runRestore(ctx, backup.id, { tuning });
    expect(restore).toMatchObject({ status: 'completed', progress: { assets_restored: 1, objects_copied: 1, bytes_copied: file.length } });
    expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${id}/content`)).body)).toBe(sha256(file));
  }, 60_000);
});

describe('verification', () => {
  it('a corrupt or missing blob fails its asset, named in the error, without touching the live asset; the rest is restored', async () => {
    const corrupt = await upload(bytesOf(1500), { name: 'corrupt.png' });
    const missing = await upload(bytesOf(1600), { name: 'missing.png' });
    const fine = await upload(bytesOf(1700), { name: 'fine.png' });
    const live = await upload(bytesOf(1800), { name: 'live.png', metadata: '{"k":"v"}' });
    await newVersion(live, bytesOf(1900));
    const backup = await runBackup(ctx, { includeAllVersions: true });
    expect(backup.status).toBe('completed');

    const blobOf = async (assetId: string, n = 1) =>
      blobKeyFor((await ctx.db('asset_versions').where({ asset_id: assetId, version_number: n }).first()).checksum_sha256);
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: await blobOf(corrupt), Body: bytesOf(1500) }));
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: await blobOf(missing) }));
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: await blobOf(live, 1), Body: bytesOf(1800) }));
    for (const id of [corrupt, missing, fine]) await deletePermanently(id);
    // The live asset has moved on, and its first version's object is gone: overwrite would need the corrupt blob.
    await newVersion(live, bytesOf(2000));
    await ctx.s3.send(
      new DeleteObjectCommand({
        Bucket: ctx.config.s3.bucket,
        Key: (await ctx.db('asset_versions').where({ asset_id: live, version_number: 1 }).first()).object_key,
      }),
    );
    const liveBefore = {
      row: await ctx.db('assets').where({ id: live }).first(),
      versions: await ctx.db('asset_versions').where({ asset_id: live }).orderBy('version_number'),
    };
    const liveKeys = await keysOf(ctx, ctx.config.s3.bucket, `assets/${live}/`);

    const res = await postJson(`/api/v2/backups/${backup.id}/restore`, { mode: 'overwrite', dry_run: false });
    expect(res.status).toBe(202);
    const restore = (await awaitJob(ctx, `/api/v2/restores/${res.body.id}`)) as Record<string, any>;
    expect(restore).toMatchObject({ status: 'failed', progress: { assets_total: 4, assets_done: 4, assets_restored: 1, assets_failed: 3 } });
    const failures = new Map<string, string>(restore.failed_assets.map((f: { asset_id: string; error: string }) => [f.asset_id, f.error]));
    expect([...failures.keys()].sort()).toEqual([corrupt, missing, live].sort());
    expect(failures.get(corrupt)).toMatch(/corrupt/);
    expect(failures.get(missing)).toMatch(/missing from the backup store/);
    expect(failures.get(live)).toMatch(/corrupt/);
    for (const id of [corrupt, missing, live]) expect(restore.error).toContain(id);

    // Nothing of the failed assets was written; the live one is as it was; the fine one is back.
    for (const id of [corrupt, missing]) {
      expect(await ctx.db('assets').where({ id }).first()).toBeUndefined();
      expect(await keysOf(ctx, ctx.config.s3.bucket, `assets/${id}/`)).toEqual([]);
    }
    expect({
      row: await ctx.db('assets').where({ id: live }).first(),
      versions: await ctx.db('asset_versions').where({ asset_id: live }).orderBy('version_number'),
    }).toEqual(liveBefore);
    expect(await keysOf(ctx, ctx.config.s3.bucket, `assets/${live}/`)).toEqual(liveKeys);
    expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${fine}/content`)).body)).toBe(
      (await ctx.db('assets').where({ id: fine }).first()).checksum_sha256,
    );

    // The Temporal run fails too (an operator filtering failed runs finds it), with the same message.
    // Its last activity wrote the row, so the run closes just after the row went final: wait for the close.
    const run = ctx.temporal.client.workflow.getHandle(restore.workflow_id);
    await expect(run.result()).rejects.toMatchObject({ cause: { message: restore.error } });
    expect((await run.describe()).status.name).toBe('FAILED');
  });

  it('a backup whose source object is gone fails, naming the asset; it cannot be restored (409)', async () => {
    const [asset] = await seedCatalog(ctx, 1);
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: asset.versions[0].objectKey }));
    const backup = await runBackup(ctx);
    expect(backup.status).toBe('failed');
    expect(backup.error).toContain(asset.id);
    expect(backup.error).toContain(asset.versions[0].id);
    expect(await eventsOf(backup.id)).toEqual([]);

    const res = await postJson(`/api/v2/backups/${backup.id}/restore`, {});
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.detail).toMatch(/failed/);
    expect(await ctx.db('backup_jobs').where({ kind: 'restore' })).toEqual([]);
  });

  it('a corrupt manifest fails the restore before anything is touched', async () => {
    const [asset] = await seedCatalog(ctx, 1);
    const backup = await runBackup(ctx);
    await ctx.db('assets').where({ id: asset.id }).delete();
    const text = (await objectBytes(ctx, ctx.config.s3.backupBucket, backup.manifest_key!)).toString().replace('seeded-0.png', 'seeded-X.png');
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: backup.manifest_key!, Body: text }));
    const restore = await runRestore(ctx, backup.id);
    expect(restore.status).toBe('failed');
    expect(restore.error).toMatch(/manifest .* is corrupt: it hashes to [0-9a-f]{64}/);
    expect(await ctx.db('assets').where({ id: asset.id }).first()).toBeUndefined();
  });
});

describe('missing mode after the asset store is lost', () => {
  it('brings back the objects of versions whose rows are there, and the rows of assets that are gone, counting each', async () => {
    const [kept, lostRows] = await seedCatalog(ctx, 3, { versions: 2 });
    const before = new Map<string, AssetView | undefined>();
    const ids = (await ctx.db('assets').orderBy('id').pluck('id')) as string[];
    for (const id of ids) before.set(id, await viewAsset(ctx, id));
    const backup = await runBackup(ctx, { includeAllVersions: true });
    expect(backup.status).toBe('completed');
    // The bucket is emptied; one asset's rows go too.
    await ctx.db('assets').where({ id: lostRows.id }).delete();
    const keys = await keysOf(ctx, ctx.config.s3.bucket);
    await ctx.s3.send(new DeleteObjectsCommand({ Bucket: ctx.config.s3.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));

    const restore = await runRestore(ctx, backup.id, { mode: 'missing' });
    expect(restore).toMatchObject({
      status: 'completed',
      progress: { assets_total: 3, assets_restored: 3, assets_skipped: 0, assets_failed: 0, versions_restored: 2, objects_copied: 6 },
    });
    for (const id of ids) expect(comparable(await viewAsset(ctx, id))).toEqual(comparable(before.get(id)));
    // The rows that were there are left as they were: no event says they changed.
    expect((await eventsOf(kept.id)).filter((ev) => ev.data.restored)).toEqual([]);

    // Nothing is missing any more: a second restore leaves everything.
    const again = await runRestore(ctx, backup.id, { mode: 'missing' });
    expect(again).toMatchObject({ status: 'completed', progress: { assets_restored: 0, assets_skipped: 3, versions_restored: 0, objects_copied: 0 } });
  });
});

describe('edges', () => {
  it('an empty catalog backs up to a manifest with no asset and restores to nothing', async () => {
    const backup = await runBackup(ctx);
    expect(backup).toMatchObject({
      status: 'completed',
      progress: { objects_total: 0, objects_done: 0, bytes_copied: 0 },
      counts: { assets: 0, versions: 0, blobs: 0 },
    });
    const types = (await manifestLines(ctx, backup.manifest_key!)).map((l) => l.type);
    expect(types).toEqual(['header', ...types.slice(1, -1).map(() => 'record'), 'end']);
    const restore = await runRestore(ctx, backup.id, { mode: 'overwrite' });
    expect(restore).toMatchObject({ status: 'completed', progress: { assets_total: 0, assets_done: 0 } });
  });

  it('a backup whose workflow was terminated reads as failed', async () => {
    await seedCatalog(ctx, 1);
    // No worker polls this queue: the backup stays pending until an operator terminates its run.
    const bc = { ...backupClientOf(ctx), taskQueue: `${ctx.config.temporal.taskQueue}-nobody` };
    const row = await startBackup(bc, TEST_ADMIN);
    expect((await call(`${ctx.baseUrl}/api/v2/backups/${row.id}`)).body.status).toBe('pending');
    await ctx.temporal.client.workflow.getHandle(row.workflow_id).terminate('operator');
    const res = await call(`${ctx.baseUrl}/api/v2/backups/${row.id}`);
    expect(res.body).toMatchObject({ status: 'failed', error: `its workflow ${row.workflow_id} terminated` });
    expect((await postJson(`/api/v2/backups/${row.id}/restore`, {})).status).toBe(409);
  });
});

describe('long runs', () => {
  it('a backup and a restore continue as new and keep their position and counts; their histories replay', async () => {
    const seeded = await seedCatalog(ctx, 12, { versions: 2, maxBytes: 512 });
    const total = seeded.flatMap((a) => a.versions).reduce((s, v) => s + v.size, 0);
    // Two blobs per step and a history limit of 20 events: several runs of each workflow.
    const tuning = { batchSize: 2, stepBudgetMs: 0, historyLimit: 20 };
    const backup = await runBackup(ctx, { includeAllVersions: true, tuning });
    expect(backup).toMatchObject({
      status: 'completed',
      progress: { objects_total: 24, objects_done: 24, bytes_total: total, bytes_done: total, bytes_copied: total },
    });
    const backupRuns = await runsOf(backup.workflow_id);
    expect(backupRuns.length).toBeGreaterThan(2);

    await ctx.db('assets').delete();
    for (const a of seeded)
      await ctx.s3.send(new DeleteObjectsCommand({ Bucket: ctx.config.s3.bucket, Delete: { Objects: a.versions.map((v) => ({ Key: v.objectKey })) } }));
    const restore = await runRestore(ctx, backup.id, { tuning });
    expect(restore).toMatchObject({
      status: 'completed',
      progress: { assets_total: 12, assets_done: 12, assets_restored: 12, objects_copied: 24, bytes_copied: total },
    });
    const restoreRuns = await runsOf(restore.workflow_id);
    expect(restoreRuns.length).toBeGreaterThan(2);
    for (const a of seeded) {
      expect(await ctx.db('asset_versions').where({ asset_id: a.id }).orderBy('version_number').pluck('checksum_sha256')).toEqual(
        a.versions.map((v) => v.sha256),
      );
    }

    // Workflow code stays deterministic: these histories (and the recorded ones in test/fixtures/histories,
    // which test/replay.test.ts replays) replay against the current bundle.
    const histories = [
      {
        name: 'backup-continued-first-run',
        workflowId: backup.workflow_id,
        history: await ctx.temporal.client.workflow.getHandle(backup.workflow_id, backupRuns[0]).fetchHistory(),
      },
      {
        name: 'backup-continued-last-run',
        workflowId: backup.workflow_id,
        history: await ctx.temporal.client.workflow.getHandle(backup.workflow_id).fetchHistory(),
      },
      {
        name: 'restore-continued-first-run',
        workflowId: restore.workflow_id,
        history: await ctx.temporal.client.workflow.getHandle(restore.workflow_id, restoreRuns[0]).fetchHistory(),
      },
      {
        name: 'restore-continued-last-run',
        workflowId: restore.workflow_id,
        history: await ctx.temporal.client.workflow.getHandle(restore.workflow_id).fetchHistory(),
      },
    ];
    expect(await replay(histories)).toEqual([]);
    recordHistories(histories);
  }, 60_000);
});

/** The run ids of a workflow id, first to last, following the chain continue-as-new leaves in each history. */
async function runsOf(workflowId: string): Promise<string[]> {
  const description = await ctx.temporal.client.workflow.getHandle(workflowId).describe();
  const runs = [description.raw.workflowExecutionInfo!.firstRunId!];
  for (;;) {
    const history = await ctx.temporal.client.workflow.getHandle(workflowId, runs[runs.length - 1]).fetchHistory();
    const next = history.events?.[history.events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
    if (!next) return runs;
    runs.push(next);
  }
}

describe('bad input', () => {
  const problem = (res: { status: number; headers: Headers; body: { status: number } }, status: number) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.status).toBe(status);
  };

  it('invalid bodies are 400 (415 not JSON) and start nothing', async () => {
    for (const body of [
      { include_all_versions: 'yes' },
      { asset_ids: [] },
      { asset_ids: ['not-a-uuid'] },
      { asset_ids: ['01900000-0000-7000-8000-000000000001', '01900000-0000-7000-8000-000000000001'] },
      { label: '' },
      { label: 'a\u0000b' },
      { surprise: true },
      [],
    ]) {
      problem(await postJson('/api/v2/backups', body), 400);
    }
    problem(await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', body: '{"label":', headers: { 'content-type': 'application/json' } }), 400);
    problem(
      await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', body: 'label=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
    );
    const answer = await postJson('/api/v2/backups', { asset_ids: ['not-a-uuid'] });
    expect(answer.body.errors).toEqual([{ path: 'asset_ids[0]', message: 'must be a UUID' }]);
    expect(await ctx.db('backup_jobs')).toEqual([]);
  });

  it('unknown ids are 404, malformed ones 400', async () => {
    const unknown = '01900000-0000-7000-8000-000000000099';
    problem(await call(`${ctx.baseUrl}/api/v2/backups/${unknown}`), 404);
    problem(await call(`${ctx.baseUrl}/api/v2/restores/${unknown}`), 404);
    problem(await postJson(`/api/v2/backups/${unknown}/restore`, {}), 404);
    problem(await call(`${ctx.baseUrl}/api/v2/backups/nope`), 400);
    problem(await call(`${ctx.baseUrl}/api/v2/restores/nope`), 400);
    problem(await postJson('/api/v2/backups/nope/restore', {}), 400);
    // An asset to back up that does not exist.
    const res = await postJson('/api/v2/backups', { asset_ids: [unknown] });
    problem(res, 404);
    expect(res.body.detail).toContain(unknown);
    // A restore's id is not a backup's, nor the other way round.
    await seedCatalog(ctx, 1);
    const backup = await runBackup(ctx);
    const restore = await postJson(`/api/v2/backups/${backup.id}/restore`, {});
    expect(restore.status).toBe(202);
    await settled(ctx, restore.body.workflow_id);
    problem(await call(`${ctx.baseUrl}/api/v2/backups/${restore.body.id}`), 404);
    problem(await call(`${ctx.baseUrl}/api/v2/restores/${backup.id}`), 404);
    problem(await call(`${ctx.baseUrl}/api/v2/backups?cursor=garbage`), 400);
  });

  it('restore bodies are checked; a backup not completed is 409', async () => {
    await seedCatalog(ctx, 1);
    const backup = await runBackup(ctx);
    for (const body of [{ mode: 'everything' }, { asset_ids: 'all' }, { asset_ids: ['x'] }, { mode: 'missing', extra: 1 }]) {
      problem(await postJson(`/api/v2/backups/${backup.id}/restore`, body), 400);
    }
    problem(
      await call(`${ctx.baseUrl}/api/v2/backups/${backup.id}/restore`, { method: 'POST', body: 'mode=missing', headers: { 'content-type': 'text/plain' } }),
      415,
    );
    // Not completed: still running (its row says so), and removed by retention.
    await ctx.db('backup_jobs').where({ id: backup.id }).update({ status: 'running' });
    const running = await postJson(`/api/v2/backups/${backup.id}/restore`, {});
    problem(running, 409);
    expect(running.body.detail).toMatch(/running/);
    await ctx.db('backup_jobs').where({ id: backup.id }).update({ status: 'completed', removed_at: new Date() });
    problem(await postJson(`/api/v2/backups/${backup.id}/restore`, {}), 409);
    expect(await ctx.db('backup_jobs').where({ kind: 'restore' })).toEqual([]);
  });
});
