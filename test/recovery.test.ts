/**
 * Recovery from the backup bucket alone (issue 24, docs/recovery.md): retention that never trusts a
 * lost catalog, the import of the bucket's backups, and the runbook's three disasters (the catalog
 * lost, the asset store lost, both) run end to end through the API, every field and byte compared.
 * "The catalog lost" is the service stopped and its database dropped, then started again on a new,
 * freshly migrated one over the same buckets (test/support/recovery.ts).
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { manifestKeyFor, summaryKeyFor } from '../lib/backups/catalog';
import { uuidv7 } from '../lib/platform/ids';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';
import { bytesOf, sha256, type UploadFields } from './support/assets';
import { awaitJob, blobKeys, comparable, manifestLines, objectBytes, runBackup, runRestore, seedCatalog, viewAsset, type AssetView } from './support/backups';
import { addAsset, addVersion, keysOf } from './support/catalog';
import { startTestService, type TestContext } from './support/context';
import { tokenFor } from './support/auth';
import { call, type JsonAnswer } from './support/http';
import { catalogOf, emptyBucket, loseCatalog, rowsOf, SERVICE_SETTINGS, triggerBackupSchedule } from './support/recovery';

let ctx: TestContext;
beforeEach(async () => {
  ctx = await startTestService(SERVICE_SETTINGS);
});
afterEach(async () => {
  await ctx?.stop();
});

const post = (path: string, json?: unknown) => call(`${ctx.baseUrl}${path}`, { method: 'POST', json });
const put = (path: string, json: unknown, headers: Record<string, string> = {}) => call(`${ctx.baseUrl}${path}`, { method: 'PUT', json, headers });
const get = (path: string) => call(`${ctx.baseUrl}${path}`);
const backupBucketKeys = () => keysOf(ctx, ctx.config.s3.backupBucket);

function ok(res: JsonAnswer, status = 200): JsonAnswer {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: expect.anything() });
  return res;
}

const sweep = () =>
  ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
    workflowId: `backup-retention-test-${uuidv7()}`,
    taskQueue: ctx.config.temporal.taskQueue,
    args: [{}],
  });

describe('retention after the catalog is lost', () => {
  it('the scheduled backup deletes no blob: retention refuses, says why (result, event, /health), and runs again once the backups are imported', async () => {
    const seeded = await seedCatalog(ctx, 6, { versions: 2, maxBytes: 2048 });
    const first = await runBackup(ctx, { includeAllVersions: true });
    // Two assets go for good before the second backup: their blobs are named by the first manifest alone.
    await ctx.db('assets').whereIn('id', [seeded[0].id, seeded[1].id]).delete();
    const second = await runBackup(ctx, { includeAllVersions: true });
    expect([first.status, second.status]).toEqual(['completed', 'completed']);
    const kept = await backupBucketKeys();
    expect(await blobKeys(ctx)).toHaveLength(12);

    ctx = await loseCatalog(ctx);
    const scheduled = await triggerBackupSchedule(ctx);
    expect(scheduled.backup).toMatchObject({ status: 'completed' });
    const unknown = [second.id, first.id];
    expect(await backupBucketKeys()).toEqual(expect.arrayContaining(kept));
    expect(scheduled.retention).toEqual({
      backups_removed: 0,
      blobs_deleted: 0,
      bytes_freed: 0,
      unknown_backups: unknown,
      refused: expect.stringMatching(/^the catalog knows no backup from before .* import them first/),
    });
    const refused = scheduled.retention.refused;
    expect(await ctx.db('outbox_events').where({ type: 'storage.backup.retention_refused' }).select('subject', 'data')).toEqual([
      { subject: scheduled.backupId, data: { sweep_id: scheduled.backupId, reason: refused, unknown_backups: unknown } },
    ]);
    const health = await get('/health');
    expect(health.body).toMatchObject({
      status: 'degraded',
      backup_retention: { status: 'refused', sweep_id: scheduled.backupId, reason: refused, unknown_backups: unknown },
    });

    // The operator imports what the bucket holds; the next sweep runs, and still deletes nothing: every backup is retained.
    const imported = ok(await post('/api/v2/backups/import', {}));
    expect(imported.body).toEqual({
      imported: [expect.objectContaining({ id: second.id, status: 'completed' }), expect.objectContaining({ id: first.id, status: 'completed' })],
      known: [scheduled.backupId],
      refused: [],
    });
    expect(await sweep()).toEqual({ backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, unknown_backups: [], refused: null });
    expect(await backupBucketKeys()).toEqual(expect.arrayContaining(kept));
    expect((await get('/health')).body).toMatchObject({ status: 'ok', backup_retention: { status: 'ok', unknown_backups: [] } });
  }, 180_000);

  it('a manifest the catalog does not know is kept and reported; the sweep goes on with the rest, and an import brings the backup back', async () => {
    const [r, p] = await seedCatalog(ctx, 2);
    const old = await runBackup(ctx);
    await ctx.db('assets').where({ id: r.id }).delete();
    const [x] = await seedCatalog(ctx, 1);
    const middle = await runBackup(ctx);
    await ctx.db('assets').where({ id: x.id }).delete();
    const newest = await runBackup(ctx);
    expect([old.status, middle.status, newest.status]).toEqual(['completed', 'completed', 'completed']);
    // A partial recovery: the catalog knows the oldest and the newest backup, not the one between.
    await ctx.db('backup_jobs').where({ id: middle.id }).delete();
    await ctx
      .db('backup_jobs')
      .where({ id: old.id })
      .update({ expires_at: new Date(Date.now() - 86_400_000) });

    expect(await sweep()).toEqual({ backups_removed: 1, blobs_deleted: 1, bytes_freed: r.versions[0].size, unknown_backups: [middle.id], refused: null });
    const blobs = await blobKeys(ctx);
    expect(blobs.map((k) => k.split('/').pop()).sort()).toEqual([p.versions[0].sha256, x.versions[0].sha256].sort());
    expect(await keysOf(ctx, ctx.config.s3.backupBucket, 'manifests/')).toEqual(
      [middle.id, newest.id].flatMap((id) => [manifestKeyFor(id), summaryKeyFor(id)]).sort(),
    );

    const imported = ok(await post('/api/v2/backups/import', {}));
    expect(imported.body).toMatchObject({ imported: [{ id: middle.id, status: 'completed' }], known: [newest.id], refused: [] });
    const restore = await runRestore(ctx, middle.id);
    expect(restore).toMatchObject({ status: 'completed', progress: { assets_restored: 1, assets_skipped: 1, objects_copied: 1 } });
    expect(sha256(await objectBytes(ctx, ctx.config.s3.bucket, x.versions[0].objectKey))).toBe(x.versions[0].sha256);
  }, 120_000);

  it('a manifest in the bucket that cannot be read stops the sweep before it deletes a blob', async () => {
    const [a] = await seedCatalog(ctx, 1);
    const old = await runBackup(ctx);
    await ctx.db('assets').where({ id: a.id }).delete();
    expect((await runBackup(ctx)).status).toBe('completed');
    await ctx
      .db('backup_jobs')
      .where({ id: old.id })
      .update({ expires_at: new Date(Date.now() - 86_400_000) });
    // Newer than every backup the catalog knows, and not a manifest: the blobs it names are unknown.
    const stray = uuidv7();
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: manifestKeyFor(stray), Body: 'not a manifest\n' }));

    const result = await sweep();
    expect(result).toEqual({
      backups_removed: 1,
      blobs_deleted: 0,
      bytes_freed: 0,
      unknown_backups: [stray],
      refused: expect.stringMatching(
        new RegExp(
          `^the backup bucket holds manifests that cannot be read, whose blobs are unknown: ${manifestKeyFor(stray)}: manifest line at byte 0 is not JSON`,
        ),
      ),
    });
    expect(await blobKeys(ctx)).toHaveLength(1);
    expect((await get('/health')).body).toMatchObject({ status: 'degraded', backup_retention: { status: 'refused', reason: result.refused } });
  });
});

describe('import', () => {
  it('registers what it can check: a manifest without its summary, or not of the SHA-256 its summary records, is refused and named; one written by older code is found by scanning', async () => {
    const [a, b] = await seedCatalog(ctx, 2, { versions: 2 });
    await ctx.db('asset_versions').whereIn('asset_id', [a.id, b.id]).update({ uploaded_by: 'alice' });
    const current = await runBackup(ctx, { includeAllVersions: true, label: 'current' });
    // Its version lines say who uploaded each; the older code's hold no uploaded_by.
    const currentVersions = (await manifestLines(ctx, manifestKeyFor(current.id))).filter((l) => l.type === 'version');
    expect(currentVersions.map((l) => l.uploaded_by)).toEqual(['alice', 'alice', 'alice', 'alice']);
    const older = await runBackup(ctx, { includeAllVersions: true, label: 'older code' });
    await writtenByOlderCode(older.id);
    const damaged = await runBackup(ctx, { label: 'damaged' });
    const manifest = await objectBytes(ctx, ctx.config.s3.backupBucket, manifestKeyFor(damaged.id));
    await ctx.s3.send(
      new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: manifestKeyFor(damaged.id), Body: manifest.toString().replace('seeded-1', 'seeded-X') }),
    );
    // A backup that failed after its manifest was written has no summary: a content it had to copy was gone.
    const [gone] = await seedCatalog(ctx, 1);
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: gone.versions[0].objectKey }));
    const failed = await runBackup(ctx, { label: 'failed' });
    expect(failed.status).toBe('failed');

    ctx = await loseCatalog(ctx);
    // Bad input changes nothing.
    const bad = await post('/api/v2/backups/import', { everything: true });
    expect(bad.status).toBe(400);
    expect(await ctx.db('backup_jobs').count({ n: '*' })).toEqual([{ n: 0 }]);

    const imported = ok(await post('/api/v2/backups/import', {}));
    expect(imported.body.imported.map((row: { id: string }) => row.id)).toEqual([older.id, current.id]);
    expect(imported.body.imported[1]).toEqual(current);
    expect(imported.body.imported[0]).toMatchObject({
      id: older.id,
      status: 'completed',
      label: 'older code',
      counts: older.counts,
      manifest_sha256: expect.any(String),
    });
    expect(imported.body.known).toEqual([]);
    expect(imported.body.refused).toEqual([
      { backup_id: failed.id, manifest_key: manifestKeyFor(failed.id), error: expect.stringMatching(/no summary/) },
      { backup_id: damaged.id, manifest_key: manifestKeyFor(damaged.id), error: expect.stringMatching(/hashes to [0-9a-f]{64}.*its summary records/) },
    ]);
    expect(await ctx.db('audit_log').where({ action: 'backup.import' }).pluck('backup_id')).toEqual(expect.arrayContaining([older.id, current.id]));
    // A second import finds them known.
    expect(ok(await post('/api/v2/backups/import', {})).body).toMatchObject({ imported: [], known: [older.id, current.id] });

    // The older backup restores: the asset lines were found by scanning.
    const restore = await runRestore(ctx, older.id);
    expect(restore).toMatchObject({ status: 'completed', progress: { assets_restored: 2 } });
    expect(await ctx.db('asset_versions').whereIn('asset_id', [a.id, b.id]).count({ n: '*' })).toEqual([{ n: 4 }]);
    // Its manifest said nothing of who uploaded them: not known.
    expect(await ctx.db('asset_versions').whereIn('asset_id', [a.id, b.id]).pluck('uploaded_by')).toEqual([null, null, null, null]);
  }, 180_000);
});

describe('import of a hostile or corrupt bucket', () => {
  type Line = Record<string, unknown> & { type: string };
  const encode = (lines: Line[]) => Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const edit = (lines: Line[], type: string, change: (line: Line) => Line) => {
    const i = lines.findIndex((l) => l.type === type);
    return lines.map((l, j) => (j === i ? change({ ...l }) : l));
  };
  /** A record line put where the record lines are (before the first blob line). */
  const withRecord = (lines: Line[], table: string, row: Record<string, unknown>) => {
    const i = lines.findIndex((l) => l.type === 'blob' || l.type === 'end');
    return [...lines.slice(0, i), { type: 'record', table, row }, ...lines.slice(i)];
  };

  it('refuses each, naming what is wrong, reads a line at a time, and registers nothing: the catalog is as it was', async () => {
    const seeded = await seedCatalog(ctx, 2);
    /** The seeded asset that the manifest's first version line is not of. */
    const other = (v: Line) => seeded.find((x) => x.id !== v.asset_id)!;
    const base = await runBackup(ctx, { label: 'base' });
    const restore = await runRestore(ctx, base.id);
    const lines = await manifestLines(ctx, manifestKeyFor(base.id));
    const summary = JSON.parse((await objectBytes(ctx, ctx.config.s3.backupBucket, summaryKeyFor(base.id))).toString());
    const MIB = 1024 * 1024;
    const cases: Array<[string, (id: string) => Buffer, RegExp, { id?: string; summary?: (s: Record<string, unknown>) => Record<string, unknown> }?]> = [
      ['a truncated last line', () => encode(lines).subarray(0, -20), /ends without a newline/],
      ['a line cut short', () => Buffer.concat([encode(lines.slice(0, 2)), Buffer.from('{"type":"asset","id":\n'), encode(lines.slice(2))]), /is not JSON/],
      // 100 MiB without a newline: refused once a line passes its bound, never held whole.
      ['a line of 100 MiB', (id) => Buffer.concat([encode([{ ...lines[0], backup_id: id }]), Buffer.alloc(100 * MIB, 0x78)]), /longer than 8388608 bytes/],
      ['a size of the wrong type', () => encode(edit(lines, 'version', (v) => ({ ...v, size_bytes: String(v.size_bytes) }))), /size_bytes/],
      ['an unknown format', () => encode(edit(lines, 'header', (h) => ({ ...h, format: 'storage-backup/99' }))), /not a format this service reads/],
      ['a header of another backup', () => encode(lines), /the header is of backup/],
      [
        'an object key climbing out',
        () => encode(edit(lines, 'version', (v) => ({ ...v, object_key: `assets/${v.asset_id}/../../${other(v).versions[0].objectKey}` }))),
        /object key/,
      ],
      ['an absolute object key', () => encode(edit(lines, 'version', (v) => ({ ...v, object_key: '/etc/passwd' }))), /object key/],
      // A restore writes a version's bytes at its key: this one would overwrite the other asset's.
      ["another asset's object key", () => encode(edit(lines, 'version', (v) => ({ ...v, object_key: other(v).versions[0].objectKey }))), /object key/],
      ['a version of another asset', () => encode(edit(lines, 'version', (v) => ({ ...v, asset_id: other(v).id }))), /follows no line of its asset/],
      ['a blob key of another prefix', () => encode(edit(lines, 'blob', (l) => ({ ...l, key: `manifests/${base.id}.jsonl` }))), /not its address/],
      [
        "a backup's row naming another manifest",
        () => encode(withRecord(lines, 'backup_jobs', { id: uuidv7(), kind: 'backup', manifest_key: `blobs/sha256/../../manifests/${base.id}.jsonl` })),
        /backup .* names the manifest key/,
      ],
      ['a record of a table no backup holds', () => encode(withRecord(lines, 'upload_sessions', { id: uuidv7() })), /table/],
      ['a line after the end', () => encode([...lines, lines[1]]), /follows the end line/],
      ['the id of a restore this catalog holds', () => encode(lines), /its id is that of a restore/, { id: restore.id }],
      ['a summary of 2 MiB', () => encode(lines), /summary .* larger than 1048576 bytes/, { summary: (s) => ({ ...s, padding: 'x'.repeat(2 * MIB) }) }],
      [
        'a label that would rewrite a terminal',
        () => encode(lines),
        /summary is not one this service reads \(label: must not contain control characters/,
        { summary: (s) => ({ ...s, label: 'nightly\u001b]2;owned\u0007' }) },
      ],
      [
        'a summary of the wrong types',
        () => encode(lines),
        /summary is not one this service reads/,
        { summary: (s) => ({ ...s, counts: { ...(s.counts as object), assets: '2' } }) },
      ],
    ];
    const planted: Array<{ what: string; id: string; error: RegExp }> = [];
    for (const [what, body, error, opts] of cases) {
      const id = opts?.id ?? uuidv7();
      let manifest = body(id);
      // Every case but the one about it names its own backup in its header.
      if (what !== 'a header of another backup' && what !== 'a line of 100 MiB') manifest = Buffer.from(manifest.toString('utf8').replace(base.id, id));
      const own = { ...summary, backup_id: id, manifest: { key: manifestKeyFor(id), sha256: sha256(manifest), size_bytes: manifest.length } };
      await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: manifestKeyFor(id), Body: manifest }));
      await ctx.s3.send(
        new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: summaryKeyFor(id), Body: JSON.stringify(opts?.summary?.(own) ?? own) }),
      );
      planted.push({ what, id, error });
    }
    const jobs = () => rowsOf(ctx, 'backup_jobs', 'id');
    const before = await jobs();
    const auditBefore = await ctx.db('audit_log').count({ n: '*' });

    const imported = ok(await post('/api/v2/backups/import', {}));
    const refused = new Map(imported.body.refused.map((r: { backup_id: string; error: string }) => [r.backup_id, r.error]));
    expect(planted.map(({ what, id }) => ({ what, error: refused.get(id) ?? 'imported' }))).toEqual(
      planted.map(({ what, error }) => ({ what, error: expect.stringMatching(error) })),
    );
    expect(imported.body.imported).toEqual([]);
    expect(imported.body.known).toEqual([base.id]);
    expect(imported.body.refused).toHaveLength(planted.length);
    expect(await jobs()).toEqual(before);
    // The import itself is audited; no backup was.
    expect(
      await ctx
        .db('audit_log')
        .whereIn(
          'backup_id',
          planted.map((p) => p.id),
        )
        .count({ n: '*' }),
    ).toEqual([{ n: 0 }]);
    expect(Number((await ctx.db('audit_log').count({ n: '*' }))[0].n)).toBeLessThanOrEqual(Number(auditBefore[0].n) + 1);
    for (const { id } of planted.filter((p) => p.id !== restore.id)) expect((await get(`/api/v2/backups/${id}`)).status).toBe(404);
  }, 180_000);
});

describe('access', () => {
  it('every backup, restore and import route refuses a user and a service (403) and changes nothing, with a backup and a lost one to act on', async () => {
    const [asset] = await seedCatalog(ctx, 1);
    const kept = await runBackup(ctx, { label: 'kept' });
    const lost = await runBackup(ctx, { label: 'lost' });
    const restore = await runRestore(ctx, kept.id);
    // The catalog forgets one: an import would register it.
    await ctx.db('backup_jobs').where({ id: lost.id }).delete();
    await ctx.db('assets').where({ id: asset.id }).delete();
    const state = async () => ({
      jobs: await rowsOf(ctx, 'backup_jobs', 'id'),
      assets: await rowsOf(ctx, 'assets', 'id'),
      backupKeys: await backupBucketKeys(),
    });
    const before = await state();
    const requests: Array<[string, string, unknown?]> = [
      ['POST', '/api/v2/backups', {}],
      ['POST', '/api/v2/backups/import', {}],
      ['POST', `/api/v2/backups/${kept.id}/restore`, { mode: 'overwrite' }],
      ['POST', `/api/v2/backups/${lost.id}/restore`, {}],
      ['GET', '/api/v2/backups'],
      ['GET', `/api/v2/backups/${kept.id}`],
      ['GET', '/api/v2/restores'],
      ['GET', `/api/v2/restores/${restore.id}`],
    ];
    for (const as of [await tokenFor({ sub: 'alice', groups: ['admins'] }), await tokenFor({ sub: 'character-service', roles: ['storage:service'] })]) {
      for (const [method, path, json] of requests) {
        const res = await call(`${ctx.baseUrl}${path}`, { method, as, ...(json === undefined ? {} : { json }) });
        expect({ method, path, status: res.status, detail: res.body?.detail }).toEqual({
          method,
          path,
          status: 403,
          detail: expect.stringMatching(/for admins/),
        });
      }
    }
    expect(await state()).toEqual(before);
    expect((await get(`/api/v2/backups/${lost.id}`)).status).toBe(404);
  }, 180_000);
});

/**
 * Rewrites a backup's manifest and summary as the code before issue 24 wrote them: no revision in
 * the asset lines, no uploaded_by in the version lines, no record lines, and a summary without
 * offsets, times or progress.
 */
async function writtenByOlderCode(backupId: string): Promise<void> {
  const lines = await manifestLines(ctx, manifestKeyFor(backupId));
  const kept = lines
    .filter((l) => ['header', 'asset', 'version', 'blob', 'end'].includes(l.type))
    .map((l) => {
      if (l.type === 'header') return { ...l, format: 'storage-backup/1' };
      if (l.type === 'end') return Object.fromEntries(['type', 'assets', 'versions', 'blobs', 'bytes', 'version_bytes'].map((k) => [k, l[k]]));
      const { revision: _revision, ...rest } = l;
      if (l.type === 'asset') return rest;
      const { uploaded_by: _uploadedBy, ...version } = l;
      return version;
    });
  const body = Buffer.from(kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: manifestKeyFor(backupId), Body: body }));
  const summary = JSON.parse((await objectBytes(ctx, ctx.config.s3.backupBucket, summaryKeyFor(backupId))).toString());
  const older = {
    format: 'storage-backup-summary/1',
    ...Object.fromEntries(['backup_id', 'label', 'trigger', 'scope', 'counts', 'bytes_copied', 'started_at', 'expires_at'].map((k) => [k, summary[k]])),
    manifest: { key: manifestKeyFor(backupId), sha256: sha256(body), size_bytes: body.length },
  };
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: summaryKeyFor(backupId), Body: JSON.stringify(older, null, 2) }));
}

// ---------------------------------------------------------------------------------------------
// The three disasters

interface Campaign {
  assetIds: string[];
  owners: string[];
  backupId: string;
  earlierBackupId: string;
  earlierRestoreId: string;
  before: Snapshot;
}

interface Snapshot {
  catalog: Awaited<ReturnType<typeof catalogOf>>;
  views: Map<string, AssetView | undefined>;
  etags: Map<string, string>;
  backups: unknown[];
  restores: unknown[];
  earlierRestore: unknown;
  policies: unknown[];
  usage: unknown[];
  /** The audit rows the backup holds: every row written before its snapshot. */
  audit: Array<Record<string, unknown>>;
}

const upload = async (file: Buffer, fields: UploadFields): Promise<string> => (await addAsset(ctx.baseUrl, file, fields)).body.id;

/**
 * A campaign's catalog of three owners and the system: versions (one content shared by two assets and
 * by a version restored from an older one), metadata, tags, grants, an asset changed after its upload
 * (revision > 1), one soft-deleted; a policy and a soft-deleted one; two quota overrides; an earlier
 * backup and a restore of it that failed an asset. Then the backup the disaster is recovered from.
 */
async function buildCampaign(): Promise<Campaign> {
  const portraitBytes = bytesOf(3000);
  const portrait = await upload(portraitBytes, {
    name: 'Élara portrait ✨.png',
    content_type: 'image/png',
    metadata: '{"character":"Elara"}',
    tags: 'portrait,elf',
    owner_id: 'alice',
  });
  await addVersion(ctx.baseUrl, portrait, bytesOf(2500));
  ok(
    await put(`/api/v2/assets/${portrait}/grants`, [
      { subject: 'group:party', access: 'read' },
      { subject: 'user:bob', access: 'write' },
    ]),
  );
  ok(await put(`/api/v2/assets/${portrait}`, { metadata: { character: 'Elara', kind: 'portrait' } }));
  const map = await upload(bytesOf(4000), { name: 'Sword Coast.tif', content_type: 'image/tiff', metadata: '{"region":"west"}', tags: 'map', owner_id: 'bob' });
  const handout = await upload(bytesOf(1200), { name: 'handout.pdf', content_type: 'application/pdf', tags: 'handout', owner_id: 'carol' });
  await addVersion(ctx.baseUrl, handout, bytesOf(1300));
  const firstHandout = (await ctx.db('asset_versions').where({ asset_id: handout, version_number: 1 }).first()).id;
  ok(await post(`/api/v2/assets/${handout}/versions/${firstHandout}/restore`), 201);
  const sigil = await upload(portraitBytes, { name: 'sigil.png', content_type: 'image/png' });

  ok(
    await post('/api/v2/policies', {
      name: 'old portraits',
      description: 'noncurrent portraits go after 30 days',
      filter: { tags: ['portrait'] },
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 3 },
        { action: 'purge_deleted', days: 60 },
      ],
    }),
    201,
  );
  const dropped = ok(await post('/api/v2/policies', { name: 'dropped', enabled: false, rules: [{ action: 'expire_assets', days: 365 }] }), 201);
  expect((await call(`${ctx.baseUrl}/api/v2/policies/${dropped.body.id}`, { method: 'DELETE' })).status).toBe(204);
  ok(await put('/api/v2/quotas/alice', { bytes: 50_000_000, assets: 100 }));
  ok(await put('/api/v2/quotas/bob', { assets: 20 }));

  const earlier = ok(await post('/api/v2/backups', { label: 'session 11' }), 202);
  expect(await awaitJob(ctx, `/api/v2/backups/${earlier.body.id}`)).toMatchObject({ status: 'completed' });
  const stranger = uuidv7();
  const earlierRestore = ok(await post(`/api/v2/backups/${earlier.body.id}/restore`, { asset_ids: [sigil, stranger], dry_run: false }), 202);
  expect(await awaitJob(ctx, `/api/v2/restores/${earlierRestore.body.id}`)).toMatchObject({ status: 'failed', failed_assets: [{ asset_id: stranger }] });
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${map}`, { method: 'DELETE' })).status).toBe(204);

  const backup = ok(await post('/api/v2/backups', { label: 'before the disaster', include_all_versions: true }), 202);
  expect(await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).toMatchObject({ status: 'completed' });

  const assetIds = [portrait, map, handout, sigil];
  const owners = ['alice', 'bob', 'carol', 'system'];
  return {
    assetIds,
    owners,
    backupId: backup.body.id,
    earlierBackupId: earlier.body.id,
    earlierRestoreId: earlierRestore.body.id,
    before: await snapshotOf(assetIds, owners, backup.body.id, earlierRestore.body.id),
  };
}

async function snapshotOf(assetIds: string[], owners: string[], backupId: string, earlierRestoreId: string): Promise<Snapshot> {
  const views = new Map<string, AssetView | undefined>();
  const etags = new Map<string, string>();
  for (const id of assetIds) {
    views.set(id, await viewAsset(ctx, id));
    etags.set(id, (await get(`/api/v2/assets/${id}?include_deleted=true`)).headers.get('etag')!);
  }
  const lines = await manifestLines(ctx, manifestKeyFor(backupId));
  const snapshotAt = Date.parse(lines[0].snapshot_at as string);
  const auditIds = lines.filter((l) => l.type === 'record' && l.table === 'audit_log').map((l) => String((l.row as { id: number }).id));
  // Every audit row the backup does not hold was written after its snapshot (the backup's own completion, these reads).
  const all = await rowsOf(ctx, 'audit_log', 'id');
  const notHeld = all.filter((row) => !auditIds.includes(String(row.id)));
  expect(notHeld.filter((row) => Date.parse(row.at as string) < snapshotAt)).toEqual([]);
  expect(auditIds.length).toBeGreaterThan(10);
  return {
    catalog: await catalogOf(ctx),
    views,
    etags,
    backups: (await get('/api/v2/backups?limit=100')).body.items,
    restores: (await get('/api/v2/restores?limit=100')).body.items,
    earlierRestore: (await get(`/api/v2/restores/${earlierRestoreId}`)).body,
    policies: (await get('/api/v2/policies?limit=100')).body.items,
    usage: await Promise.all(owners.map(async (owner) => (await get(`/api/v2/usage?owner_id=${owner}`)).body)),
    audit: all.filter((row) => auditIds.includes(String(row.id))),
  };
}

/** Restores the campaign's backup in `mode` through the API (importing the bucket's backups first if asked) and compares everything. */
async function recover(campaign: Campaign, mode: 'missing' | 'overwrite', opts: { importFirst: boolean }): Promise<void> {
  const { before } = campaign;
  if (opts.importFirst) {
    const imported = ok(await post('/api/v2/backups/import', {}));
    expect(imported.body).toMatchObject({ known: [], refused: [] });
    expect(imported.body.imported.map((b: { id: string }) => b.id)).toEqual([campaign.backupId, campaign.earlierBackupId]);
  }
  const started = ok(await post(`/api/v2/backups/${campaign.backupId}/restore`, { mode, dry_run: false }), 202);
  const restore = await awaitJob(ctx, `/api/v2/restores/${started.body.id}`, 120_000);
  expect(restore).toMatchObject({ status: 'completed', progress: { assets_total: 4, assets_failed: 0 } });

  const after = await catalogOf(ctx);
  // A restore is a change of each asset: updated_at is its time, and the revision only grows.
  const assetFields = (rows: Array<Record<string, unknown>>) => rows.map(({ updated_at: _u, revision: _r, ...rest }) => rest);
  expect(assetFields(after.assets)).toEqual(assetFields(before.catalog.assets));
  after.assets.forEach((row, i) => expect(row.revision as number).toBeGreaterThan(before.catalog.assets[i].revision as number));
  // The restore hashed every object it wrote back at its key: the versions say so (verified_at), as a scrub's reading would.
  const versionFields = (rows: Array<Record<string, unknown>>) => rows.map(({ verified_at: _v, ...rest }) => rest);
  expect(versionFields(after.asset_versions)).toEqual(versionFields(before.catalog.asset_versions));
  for (const table of ['asset_metadata', 'asset_grants', 'lifecycle_policies', 'policy_rules', 'owner_quotas'] as const) {
    expect({ table, rows: after[table] }).toEqual({ table, rows: before.catalog[table] });
  }
  const stored = (rows: Array<Record<string, unknown>>) => rows.filter((r) => r.assets || r.versions || r.bytes_stored || r.reserved_bytes);
  expect(stored(after.owner_usage)).toEqual(stored(before.catalog.owner_usage));

  for (const id of campaign.assetIds) {
    expect(comparable(await viewAsset(ctx, id))).toEqual(comparable(before.views.get(id)));
    // No ETag handed out before the disaster matches the asset now (a soft-deleted asset takes no change at all).
    if (before.views.get(id)!.asset.is_deleted) continue;
    const stale = await put(`/api/v2/assets/${id}`, { tags: ['changed'] }, { 'if-match': before.etags.get(id)! });
    expect({ id, status: stale.status }).toEqual({ id, status: 412 });
  }
  const known = (items: Array<{ id: string }>, of: unknown[]) => items.filter((item) => (of as Array<{ id: string }>).some((b) => b.id === item.id));
  expect(known((await get('/api/v2/backups?limit=100')).body.items, before.backups)).toEqual(before.backups);
  expect(known((await get('/api/v2/restores?limit=100')).body.items, before.restores)).toEqual(before.restores);
  expect((await get(`/api/v2/restores/${campaign.earlierRestoreId}`)).body).toEqual(before.earlierRestore);
  expect((await get('/api/v2/policies?limit=100')).body.items).toEqual(before.policies);
  expect(await Promise.all(campaign.owners.map(async (owner) => (await get(`/api/v2/usage?owner_id=${owner}`)).body))).toEqual(before.usage);
  // Every audit row the backup held is back, once, as it was but for its id (the log is append-only: a restored row takes a new one).
  const withoutId = (rows: Array<Record<string, unknown>>) => rows.map(({ id: _id, ...row }) => JSON.stringify(row));
  const restoredAudit = withoutId(await rowsOf(ctx, 'audit_log', 'id'));
  for (const row of withoutId(before.audit)) expect(restoredAudit.filter((r) => r === row)).toEqual([row]);
}

describe("the runbook's three disasters, recovered from the backup bucket alone", () => {
  it('the catalog lost: import, then restore missing', async () => {
    const campaign = await buildCampaign();
    ctx = await loseCatalog(ctx);
    await recover(campaign, 'missing', { importFirst: true });
    // What the recovery itself did is in the audit log too, after the restored rows.
    const importRow = await ctx.db('audit_log').where({ action: 'backup.import' }).first();
    expect(importRow.at.getTime()).toBeGreaterThan(Math.max(...campaign.before.audit.map((row) => Date.parse(row.at as string))));
  }, 300_000);

  it('the asset store lost: restore overwrite', async () => {
    const campaign = await buildCampaign();
    await emptyBucket(ctx, ctx.config.s3.bucket);
    await recover(campaign, 'overwrite', { importFirst: false });
  }, 300_000);

  it('both lost: import, then restore missing', async () => {
    const campaign = await buildCampaign();
    ctx = await loseCatalog(ctx);
    await emptyBucket(ctx, ctx.config.s3.bucket);
    expect(await keysOf(ctx, ctx.config.s3.bucket)).toEqual([]);
    await recover(campaign, 'missing', { importFirst: true });
  }, 300_000);
});
