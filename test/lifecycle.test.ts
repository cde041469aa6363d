/**
 * Lifecycle sweeps against the real stack: each rule alone and together, filters, dry runs, the
 * global settings, the HTTP API end to end, the schedule, a killed sweep run again, and 10,000
 * versions. Data is aged by setting catalog timestamps; the sweep's "now" is Temporal's clock.
 */
import { ListMultipartUploadsCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { uuidv7 } from '../lib/platform/ids';
import { objectKeyFor } from '../lib/assets/keys';
import { getRun, type LifecycleRunRow } from '../lib/lifecycle/sweep';
import { startLifecycleRun } from '../lib/lifecycle/sweepRuns';
import { ensureLifecycleSchedule } from '../worker/schedules';
import { bytesOf, download, postForm, uploadAsset } from './support/assets';
import { useTestService } from './support/context';
import { TEST_ADMIN } from './support/auth';
import { call } from './support/http';
import {
  bucketKeys,
  createPolicyRow,
  daysAgo,
  deletedEvents,
  lifecycleClientOf,
  mismatches,
  resetCatalog,
  runSweep,
  seedAssets,
  versionNumbers,
  type SeededAsset,
} from './support/lifecycle';
import { spawnLifecycleWorker } from './support/lifecycleWorker';
import { waitUntil } from './support/processes';
import { recordHistories, replay } from './support/replay';

// The global settings are set out of reach here, so each test sees its policies alone; the
// 'global settings' block runs a service of its own with them in reach.
const ctx = useTestService({ STORAGE_MAX_VERSIONS: '1000', STORAGE_VERSION_RETENTION_DAYS: '3650', STORAGE_UPLOAD_WAIT_SECONDS: '60' });
afterEach(async () => {
  await resetCatalog(ctx);
});

const sizeOf = (asset: SeededAsset, numbers: number[]) =>
  asset.versions.filter((v) => numbers.includes(v.versionNumber)).reduce((sum, v) => sum + v.sizeBytes, 0);

const counts = (c: Partial<Record<string, number>>) => ({
  versions_expired: 0,
  assets_expired: 0,
  assets_purged: 0,
  uploads_aborted: 0,
  bytes_freed: 0,
  ...c,
});

const runCounts = (row: { versions_expired: number; assets_expired: number; assets_purged: number; uploads_aborted: number; bytes_freed: number }) => ({
  versions_expired: row.versions_expired,
  assets_expired: row.assets_expired,
  assets_purged: row.assets_purged,
  uploads_aborted: row.uploads_aborted,
  bytes_freed: row.bytes_freed,
});

/** Sweep workflows whose fresh histories the last test replays (and, with STORAGE_RECORD_HISTORIES=1, keeps). */
const histories: Array<{ name: string; workflowId: string }> = [];

describe('each rule alone', () => {
  it('expire_noncurrent_versions: ages from superseded_at, keeps the keep_latest newest noncurrent versions, never the current one', async () => {
    const [a, b, c] = await seedAssets(ctx, [
      { name: 'a.png', noncurrentDaysAgo: [50, 40, 30, 20, 10] }, // v6 current
      { name: 'b.png', noncurrentDaysAgo: [100] }, // v2 current
      { name: 'c.png', updatedDaysAgo: 900 }, // one current version only
    ]);
    await ctx
      .db('asset_versions')
      .where({ asset_id: c.id })
      .update({ created_at: daysAgo(900) });
    await createPolicyRow(ctx, { name: 'noncurrent', rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 15, keep_latest: 2 }] });

    const run = await runSweep(ctx);
    expect(run.status).toBe('completed');
    // a: noncurrent newest first v5 (10 d), v4 (20 d), v3, v2, v1: v4 is kept as the second newest, v1-v3 go.
    // b: v1 is 100 days noncurrent but the only (newest) noncurrent version: kept.
    expect(runCounts(run)).toEqual(counts({ versions_expired: 3, bytes_freed: sizeOf(a, [1, 2, 3]) }));
    expect(await versionNumbers(ctx, a.id)).toEqual([4, 5, 6]);
    expect(await versionNumbers(ctx, b.id)).toEqual([1, 2]);
    expect(await versionNumbers(ctx, c.id)).toEqual([1]);
    expect((await ctx.db('assets').where({ id: a.id }).first()).version_count).toBe(3);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
    expect(await deletedEvents(ctx)).toEqual([]);

    // keep_latest 0 and a day: every noncurrent version goes, the current ones stay.
    await createPolicyRow(ctx, { name: 'all-noncurrent', rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 1 }] });
    const second = await runSweep(ctx);
    expect(second.versions_expired).toBe(3);
    expect(await versionNumbers(ctx, a.id)).toEqual([6]);
    expect(await versionNumbers(ctx, b.id)).toEqual([2]);
    expect(await versionNumbers(ctx, c.id)).toEqual([1]);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
  });

  it('expire_assets: soft-deletes assets not updated for N days, with a storage.asset.deleted event each', async () => {
    const [stale, fresh] = await seedAssets(ctx, [
      { name: 'stale.pdf', updatedDaysAgo: 40, noncurrentDaysAgo: [45] },
      { name: 'fresh.pdf', updatedDaysAgo: 10 },
    ]);
    await createPolicyRow(ctx, { name: 'stale', rules: [{ action: 'expire_assets', days: 30 }] });

    const run = await runSweep(ctx);
    expect(runCounts(run)).toEqual(counts({ assets_expired: 1 }));
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${stale.id}`)).status).toBe(404);
    const kept = await call(`${ctx.baseUrl}/api/v2/assets/${stale.id}?include_deleted=true`);
    expect(kept.body).toMatchObject({ is_deleted: true, version_count: 2 });
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${fresh.id}`)).body.is_deleted).toBe(false);
    expect(await deletedEvents(ctx)).toEqual([{ subject: stale.id, permanent: false }]);
    // A soft delete keeps the bytes: the asset can be restored.
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
    expect(await bucketKeys(ctx, `assets/${stale.id}/`)).toHaveLength(2);
  });

  it('purge_deleted: removes the bytes and rows of assets soft-deleted N days ago, through deleteAssetWorkflow', async () => {
    const [old, recent, live] = await seedAssets(ctx, [
      { name: 'old.png', deletedDaysAgo: 40, noncurrentDaysAgo: [50, 45] },
      { name: 'recent.png', deletedDaysAgo: 5 },
      { name: 'live.png', updatedDaysAgo: 400 },
    ]);
    await createPolicyRow(ctx, { name: 'purge', rules: [{ action: 'purge_deleted', days: 30 }] });

    const run = await runSweep(ctx);
    expect(runCounts(run)).toEqual(counts({ assets_purged: 1, bytes_freed: sizeOf(old, [1, 2, 3]) }));
    expect(await ctx.db('assets').where({ id: old.id })).toEqual([]);
    expect(await ctx.db('asset_versions').where({ asset_id: old.id })).toEqual([]);
    expect(await bucketKeys(ctx, `assets/${old.id}/`)).toEqual([]);
    expect(await ctx.db('assets').whereIn('id', [recent.id, live.id]).pluck('id')).toHaveLength(2);
    expect(await deletedEvents(ctx)).toEqual([{ subject: old.id, permanent: true }]);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
    // The purge ran as the asset's own deletion workflow, child of the sweep, findable by AssetId.
    const child = await ctx.temporal.client.workflow.getHandle(`delete-asset-${old.id}`).describe();
    expect(child.status.name).toBe('COMPLETED');
    expect(child.parentExecution?.workflowId).toBe(run.workflow_id);
    expect(child.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toEqual(
      expect.arrayContaining([
        ['AssetId', old.id],
        ['StorageOperation', 'delete'],
      ]),
    );
  });

  it('abort_incomplete_uploads: ends sessions opened N days ago through their own workflow, the multipart upload aborted', async () => {
    const MiB = 1024 * 1024;
    const open = async (name: string) => {
      const res = await call(`${ctx.baseUrl}/api/v2/uploads`, { method: 'POST', json: { name, size_bytes: 6 * MiB, part_size_bytes: 5 * MiB } });
      expect(res.status).toBe(201);
      expect((await call(`${ctx.baseUrl}/api/v2/uploads/${res.body.id}/parts/1`, { method: 'PUT', body: bytesOf(5 * MiB) })).status).toBe(200);
      return ctx.db('upload_sessions').where({ id: res.body.id }).first();
    };
    const old = await open('old.bin');
    const recent = await open('recent.bin');
    await ctx
      .db('upload_sessions')
      .where({ id: old.id })
      .update({ created_at: daysAgo(10) });
    await ctx
      .db('upload_sessions')
      .where({ id: recent.id })
      .update({ created_at: daysAgo(2) });
    // A session whose row says open but whose workflow is gone (its history was lost): ended directly.
    const orphanId = uuidv7();
    const orphanKey = objectKeyFor(uuidv7(), uuidv7());
    const orphanUpload = await ctx.s3.send(new CreateMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: orphanKey }));
    await ctx.s3.send(
      new UploadPartCommand({ Bucket: ctx.config.s3.bucket, Key: orphanKey, UploadId: orphanUpload.UploadId, PartNumber: 1, Body: Buffer.from('x') }),
    );
    await ctx.db('upload_sessions').insert({
      id: orphanId,
      kind: 'chunked',
      status: 'open',
      name: 'orphan.bin',
      content_type: 'application/octet-stream',
      size_bytes: 1,
      part_size_bytes: 5 * MiB,
      part_count: 1,
      object_key: orphanKey,
      s3_upload_id: orphanUpload.UploadId,
      result_asset_id: uuidv7(),
      version_id: uuidv7(),
      workflow_id: uploadWorkflowId(orphanId),
      expires_at: daysAgo(-1),
      created_at: daysAgo(30),
    });
    await createPolicyRow(ctx, { name: 'uploads', rules: [{ action: 'abort_incomplete_uploads', days: 7 }] });

    const run = await runSweep(ctx);
    histories.push({ name: 'lifecycle-abort-uploads', workflowId: run.workflow_id });
    expect(runCounts(run)).toEqual(counts({ uploads_aborted: 2 }));
    const ended = await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(old.id)).result();
    expect(ended.status).toBe('aborted');
    expect((await call(`${ctx.baseUrl}/api/v2/uploads/${old.id}`)).body.status).toBe('aborted');
    expect((await call(`${ctx.baseUrl}/api/v2/uploads/${recent.id}`)).body.status).toBe('open');
    expect((await ctx.db('upload_sessions').where({ id: orphanId }).first()).status).toBe('aborted');
    const multipart = await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.config.s3.bucket }));
    expect((multipart.Uploads ?? []).map((u) => u.Key).sort()).toEqual([recent.object_key]);

    expect((await call(`${ctx.baseUrl}/api/v2/uploads/${recent.id}`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('rules together, filters and dry runs', () => {
  it('applies every enabled policy to the assets its filter matches; where rules overlap the sooner wins; a dry run changes nothing and reports what the real run then does', async () => {
    const assets = await seedAssets(ctx, [
      // 0: both P1 (prefix) and P2 (image/*, portrait) match: P1's 10 days beat P2's 30.
      { name: 'maps_/a.png', contentType: 'image/png', tags: ['portrait'], noncurrentDaysAgo: [20, 15, 5] },
      // 1: P1 alone: versions 20 days noncurrent go, and the asset, not updated for 90 days, is soft-deleted.
      { name: 'maps_/b.txt', contentType: 'text/plain', noncurrentDaysAgo: [20], updatedDaysAgo: 90 },
      // 2: P2: 40 days noncurrent goes, 20 days stays.
      { name: 'portraits/c.png', contentType: 'image/png', tags: ['portrait', 'elf'], noncurrentDaysAgo: [40, 20] },
      // 3: not tagged portrait: P2 does not apply.
      { name: 'portraits/d.png', contentType: 'image/png', tags: ['elf'], noncurrentDaysAgo: [40] },
      // 4: P2 purges it: deleted 10 days ago, image/jpeg, portrait.
      { name: 'portraits/e.jpg', contentType: 'image/jpeg', tags: ['portrait'], deletedDaysAgo: 10, noncurrentDaysAgo: [60] },
      // 5: application/pdf is not image/*: not purged.
      { name: 'portraits/f.pdf', contentType: 'application/pdf', tags: ['portrait'], deletedDaysAgo: 10 },
      // 6: "mapsX/" does not start with "maps_/" (the _ is no wildcard).
      { name: 'mapsX/g.png', contentType: 'text/plain', noncurrentDaysAgo: [20], updatedDaysAgo: 90 },
      // 7: only the disabled policy would touch it.
      { name: 'other/h.bin', updatedDaysAgo: 5, noncurrentDaysAgo: [3] },
    ]);
    await createPolicyRow(ctx, {
      name: 'maps',
      filter: { name_prefix: 'maps_/' },
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 10 },
        { action: 'expire_assets', days: 60 },
      ],
    });
    await createPolicyRow(ctx, {
      name: 'portraits',
      filter: { content_type: 'image/*', tags: ['portrait'] },
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 30 },
        { action: 'purge_deleted', days: 7 },
      ],
    });
    await createPolicyRow(ctx, {
      name: 'disabled',
      enabled: false,
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 1 },
        { action: 'expire_assets', days: 1 },
        { action: 'purge_deleted', days: 1 },
      ],
    });
    const expected = counts({
      versions_expired: 2 + 1 + 1, // a: v1, v2; b: v1; c: v1
      assets_expired: 1, // b
      assets_purged: 1, // e
      bytes_freed: sizeOf(assets[0], [1, 2]) + sizeOf(assets[1], [1]) + sizeOf(assets[2], [1]) + sizeOf(assets[4], [1, 2]),
    });

    const snapshot = async () => ({
      assets: await ctx.db('assets').orderBy('id').select('id', 'is_deleted', 'deleted_at', 'updated_at', 'version_count', 'revision'),
      versions: await ctx.db('asset_versions').orderBy('id').pluck('id'),
      keys: await bucketKeys(ctx),
      events: await ctx.db('outbox_events').count({ n: '*' }),
    });
    const before = await snapshot();
    const dry = await runSweep(ctx, { dryRun: true });
    expect(dry).toMatchObject({ status: 'completed', dry_run: true });
    expect(runCounts(dry)).toEqual(expected);
    expect(await snapshot()).toEqual(before);

    const real = await runSweep(ctx);
    histories.push({ name: 'lifecycle-rules-together', workflowId: real.workflow_id });
    expect(runCounts(real)).toEqual(expected);
    const [a, b, c, d, e, f, g, h] = assets;
    expect(await versionNumbers(ctx, a.id)).toEqual([3, 4]);
    expect(await versionNumbers(ctx, b.id)).toEqual([2]);
    expect(await versionNumbers(ctx, c.id)).toEqual([2, 3]);
    expect(await versionNumbers(ctx, d.id)).toEqual([1, 2]);
    expect(await versionNumbers(ctx, e.id)).toEqual([]);
    expect(await versionNumbers(ctx, f.id)).toEqual([1]);
    expect(await versionNumbers(ctx, g.id)).toEqual([1, 2]);
    expect(await versionNumbers(ctx, h.id)).toEqual([1, 2]);
    const live = ((await ctx.db('assets').where({ is_deleted: false }).pluck('name')) as string[]).sort();
    expect(live).toEqual(['mapsX/g.png', 'maps_/a.png', 'other/h.bin', 'portraits/c.png', 'portraits/d.png']);
    expect(await ctx.db('assets').where({ id: e.id })).toEqual([]);
    expect(await deletedEvents(ctx)).toEqual(
      expect.arrayContaining([
        { subject: b.id, permanent: false },
        { subject: e.id, permanent: true },
      ]),
    );
    expect(await deletedEvents(ctx)).toHaveLength(2);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });

    // Nothing is left to do: a second sweep finds nothing.
    expect(runCounts(await runSweep(ctx))).toEqual(counts({}));
  });

  it('a run of one policy applies that policy only', async () => {
    const [x, y] = await seedAssets(ctx, [
      { name: 'x/1.png', noncurrentDaysAgo: [20] },
      { name: 'y/1.png', noncurrentDaysAgo: [20] },
    ]);
    const px = await createPolicyRow(ctx, { name: 'x', filter: { name_prefix: 'x/' }, rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 10 }] });
    await createPolicyRow(ctx, { name: 'y', filter: { name_prefix: 'y/' }, rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 10 }] });
    const run = await runSweep(ctx, { policyId: px });
    expect(run).toMatchObject({ policy_id: px, versions_expired: 1 });
    expect(await versionNumbers(ctx, x.id)).toEqual([2]);
    expect(await versionNumbers(ctx, y.id)).toEqual([1, 2]);
  });
});

describe('global settings', () => {
  const g = useTestService({ STORAGE_MAX_VERSIONS: '3', STORAGE_VERSION_RETENTION_DAYS: '30' });

  it('STORAGE_MAX_VERSIONS and STORAGE_VERSION_RETENTION_DAYS apply on every sweep of all policies, beside them', async () => {
    const [many, old, young] = await seedAssets(g, [
      { name: 'many.png', noncurrentDaysAgo: [5, 4, 3, 2, 1] }, // 6 versions: beyond the 3 newest go
      { name: 'old.png', noncurrentDaysAgo: [31] }, // noncurrent for longer than 30 days
      { name: 'young.png', noncurrentDaysAgo: [29] },
    ]);
    const policy = await createPolicyRow(g, { name: 'unrelated', rules: [{ action: 'expire_assets', days: 3000 }] });
    // A run of one policy leaves the global settings to the full sweeps.
    expect(runCounts(await runSweep(g, { policyId: policy }))).toEqual(counts({}));
    const run = await runSweep(g);
    expect(runCounts(run)).toEqual(counts({ versions_expired: 4, bytes_freed: sizeOf(many, [1, 2, 3]) + sizeOf(old, [1]) }));
    expect(await versionNumbers(g, many.id)).toEqual([4, 5, 6]);
    expect(await versionNumbers(g, old.id)).toEqual([2]);
    expect(await versionNumbers(g, young.id)).toEqual([1, 2]);
    expect(await mismatches(g)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
  });
});

describe('over HTTP', () => {
  it('a policy, real uploads, a dry run then a run: each answered 202 and read back with its counts', async () => {
    const created = await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'http/map.png', content_type: 'image/png' });
    expect(created.status).toBe(201);
    const assetId = created.body.id;
    const sizes = [100];
    for (const size of [101, 102, 103]) {
      const version = await postForm(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`, bytesOf(size), { name: 'http/map.png', content_type: 'image/png' });
      expect(version.status).toBe(201);
      sizes.push(size);
    }
    // Versions 1 and 2 stopped being current 40 days ago, 3 just now; 4 is current.
    await ctx
      .db('asset_versions')
      .where({ asset_id: assetId })
      .whereIn('version_number', [1, 2])
      .update({ superseded_at: daysAgo(40) });
    const policy = await call(`${ctx.baseUrl}/api/v2/policies`, {
      method: 'POST',
      json: { name: 'http', filter: { name_prefix: 'http/' }, rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 30 }] },
    });
    expect(policy.status).toBe(201);

    const runOver = async (body: Record<string, unknown>) => {
      const started = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs`, { method: 'POST', json: body });
      expect(started.status).toBe(202);
      expect(started.headers.get('location')).toBe(`/api/v2/operations/lifecycle-${started.body.id}`);
      expect(started.body).toMatchObject({ workflow_id: `lifecycle-${started.body.id}`, dry_run: body.dry_run ?? true, policy_id: policy.body.id });
      expect(['pending', 'running', 'completed']).toContain(started.body.status);
      return waitUntil('the run to complete', async () => {
        const run = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${started.body.id}`);
        expect(run.status).toBe(200);
        return run.body.status === 'completed' ? run.body : undefined;
      });
    };
    const expected = counts({ versions_expired: 2, bytes_freed: sizes[0] + sizes[1] });
    const dry = await runOver({ policy_id: policy.body.id, dry_run: true });
    expect(dry.counts).toEqual(expected);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`)).body.items.map((v: { version_number: number }) => v.version_number)).toEqual([
      4, 3, 2, 1,
    ]);

    const real = await runOver({ policy_id: policy.body.id, dry_run: false });
    expect(real.counts).toEqual(expected);
    expect(real).toMatchObject({ started_at: expect.any(String), completed_at: expect.any(String), error: null });
    const versions = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`);
    expect(versions.body.items.map((v: { version_number: number }) => v.version_number)).toEqual([4, 3]);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`)).body.version_count).toBe(2);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`)).body).toHaveLength(103);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });

    // The run is findable in the Temporal UI by StorageOperation, and listed newest first.
    const description = await ctx.temporal.client.workflow.getHandle(real.workflow_id).describe();
    expect(description.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toContainEqual(['StorageOperation', 'lifecycle']);
    const list = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs?limit=1`);
    expect(list.body.items.map((r: { id: string }) => r.id)).toEqual([real.id]);
    const next = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs?limit=1&cursor=${list.body.next_cursor}`);
    expect(next.body.items.map((r: { id: string }) => r.id)).toEqual([dry.id]);
  });
});

describe('the schedule', () => {
  it('is created by the worker at start, left alone when current, updated when the cron changes, and a trigger runs a sweep', async () => {
    const client = ctx.temporal.client;
    const scheduleId = `storage-lifecycle-test-${uuidv7().slice(-12)}`;
    const taskQueue = ctx.config.temporal.taskQueue;
    const handle = client.schedule.getHandle(scheduleId);
    // A worker process starting as worker/main.ts does (over its own connection) creates it.
    const worker = await spawnLifecycleWorker(ctx.config, taskQueue, scheduleId);
    try {
      let description = await handle.describe();
      expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'scheduledLifecycleWorkflow', taskQueue });
      expect(description.policies.overlap).toBe('SKIP');
      const next = description.info.nextActionTimes[0];
      expect([next.getUTCHours(), next.getUTCMinutes()]).toEqual([3, 0]);

      // Starting again (here, two replicas at once) changes nothing; another cron updates it; a worker of
      // another task queue (another deployment) leaves it alone (issue 26, finding 3).
      const opts = { scheduleId, cron: ctx.config.lifecycle.cron, taskQueue };
      expect((await Promise.all([ensureLifecycleSchedule(client, opts), ensureLifecycleSchedule(client, opts)])).sort()).toEqual(['unchanged', 'unchanged']);
      // Two replicas starting together where there is none yet: one creates it, the other finds it.
      const racedId = `${scheduleId}-raced`;
      const raced = await Promise.all([
        ensureLifecycleSchedule(client, { ...opts, scheduleId: racedId }),
        ensureLifecycleSchedule(client, { ...opts, scheduleId: racedId }),
      ]);
      await client.schedule.getHandle(racedId).delete();
      expect(raced.sort()).toEqual(['created', 'unchanged']);
      await handle.pause('paused by an operator');
      expect(await ensureLifecycleSchedule(client, { ...opts, cron: '30 4 * * *', taskQueue: `${taskQueue}-other` })).toBe('foreign');
      expect(await ensureLifecycleSchedule(client, { ...opts, cron: '30 4 * * *', taskQueue })).toBe('updated');
      description = await handle.describe();
      expect(description.state).toMatchObject({ paused: true, note: 'paused by an operator' });
      expect(description.action).toMatchObject({ taskQueue, memo: { cron: '30 4 * * *' } });
      expect(await ensureLifecycleSchedule(client, { ...opts, cron: '30 4 * * *', taskQueue })).toBe('unchanged');
      await handle.unpause();
      const nextUpdated = (await handle.describe()).info.nextActionTimes[0];
      expect([nextUpdated.getUTCHours(), nextUpdated.getUTCMinutes()]).toEqual([4, 30]);
    } finally {
      await worker.kill();
    }

    try {
      const [asset] = await seedAssets(ctx, [{ name: 'scheduled.png', noncurrentDaysAgo: [20] }]);
      await createPolicyRow(ctx, { name: 'scheduled', rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 10 }] });
      await handle.trigger();
      const run = await waitUntil(
        'the triggered sweep to complete',
        () => ctx.db('lifecycle_runs').where({ trigger: 'schedule', status: 'completed' }).first(),
        30_000,
      );
      expect(run).toMatchObject({ workflow_id: `lifecycle-${run.id}`, versions_expired: 1, dry_run: false, policy_id: null });
      expect(await versionNumbers(ctx, asset.id)).toEqual([2]);
      // The schedule's start made the run, which sweeps as its child lifecycle-{run_id}.
      const sweep = await client.workflow.getHandle(run.workflow_id).describe();
      expect(sweep.parentExecution?.workflowId).toMatch(new RegExp(`^lifecycle-scheduled-${scheduleId}-`));
      expect((await client.workflow.getHandle(sweep.parentExecution!.workflowId!).describe()).type).toBe('scheduledLifecycleWorkflow');
      histories.push({ name: 'lifecycle-scheduled', workflowId: sweep.parentExecution!.workflowId! });
      expect(sweep.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value])).toContainEqual(['StorageOperation', 'lifecycle']);
      expect((await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${run.id}`)).body).toMatchObject({ status: 'completed', trigger: 'schedule' });
    } finally {
      await handle.delete();
    }
  });
});

describe('crash safety and scale', () => {
  it('a sweep killed mid-way (worker process killed, workflow terminated) and run again removes each candidate once, leaving every row with its object', async () => {
    const assets = await seedAssets(
      ctx,
      Array.from({ length: 20 }, (_, i) => ({ name: `kill/${i}.png`, noncurrentDaysAgo: Array.from({ length: 30 }, () => 40) })),
    );
    const stale = await seedAssets(
      ctx,
      Array.from({ length: 10 }, (_, i) => ({ name: `kill/stale-${i}.png`, updatedDaysAgo: 100 })),
    );
    await createPolicyRow(ctx, {
      name: 'kill',
      rules: [
        { action: 'expire_noncurrent_versions', noncurrent_days: 30 },
        { action: 'expire_assets', days: 90 },
      ],
    });
    const candidates = 20 * 30;

    // The doomed sweep runs on a queue only the doomed worker polls, in small batches.
    const doomedQueue = `${ctx.config.temporal.taskQueue}-doomed`;
    const doomedSchedule = `storage-lifecycle-test-${uuidv7().slice(-12)}`;
    const doomed = await spawnLifecycleWorker(ctx.config, doomedQueue, doomedSchedule);
    let first: LifecycleRunRow | undefined;
    try {
      first = await startLifecycleRun(lifecycleClientOf(ctx, doomedQueue), TEST_ADMIN, { batchSize: 10 });
      await waitUntil('the sweep to be part-way through the versions', async () => {
        const run = await getRun(ctx.db, first!.id);
        return run.versions_expired >= 100 ? run : undefined;
      });
    } finally {
      await doomed.kill();
      await ctx.temporal.client.schedule.getHandle(doomedSchedule).delete();
    }
    await ctx.temporal.client.workflow.getHandle(first!.workflow_id).terminate('killed by the test');
    const killed = await getRun(ctx.db, first!.id);
    expect(killed.versions_expired).toBeLessThan(candidates);
    // Objects go before rows: at no point is there an object without its row.
    const midway = await mismatches(ctx);
    expect(midway.objectsWithoutRow).toEqual([]);
    expect(midway.rowsWithoutObject.length).toBeLessThanOrEqual(10);
    // Its status is read from the workflow that could not record its own end.
    const read = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${first!.id}`);
    expect(read.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/terminated/) });

    const again = await runSweep(ctx);
    expect(again.status).toBe('completed');
    expect(killed.versions_expired + again.versions_expired).toBe(candidates);
    expect(killed.assets_expired + again.assets_expired).toBe(stale.length);
    expect(await mismatches(ctx)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
    for (const asset of assets) expect(await versionNumbers(ctx, asset.id)).toEqual([31]);
    const events = await deletedEvents(ctx);
    expect(events.map((e) => e.subject).sort()).toEqual(stale.map((a) => a.id).sort());
  }, 90_000);

  it('10,000 versions: a dry run and a run in batches, continuing as new, agree and leave the catalog and bucket consistent', async () => {
    // 100 assets of 100 versions: v1..v99 stopped being current 99..1 days ago, v100 is current.
    // Every version has its row; the objects of 10 assets (1,000 PUTs) stand for the rest, whose keys
    // the sweep deletes all the same (deleting a missing key succeeds in S3).
    const sampled = (i: number) => i % 10 === 0;
    const assets = await seedAssets(
      ctx,
      Array.from({ length: 100 }, (_, i) => ({ name: `bulk/${i}.bin`, noncurrentDaysAgo: Array.from({ length: 99 }, (_, k) => 99 - k) })),
      { objectsFor: sampled },
    );
    const sample = assets.filter((_, i) => sampled(i)).map((a) => a.id);
    expect(await ctx.db('asset_versions').count({ n: '*' })).toEqual([{ n: 10_000 }]);
    await createPolicyRow(ctx, { name: 'bulk', rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 5 }] });
    // Per asset: noncurrent for 30 days or more are v1..v70 (all beyond the 5 newest noncurrent).
    const expected = counts({
      versions_expired: 7000,
      bytes_freed: assets.reduce(
        (sum, a) =>
          sum +
          sizeOf(
            a,
            Array.from({ length: 70 }, (_, k) => k + 1),
          ),
        0,
      ),
    });

    const dry = await runSweep(ctx, { dryRun: true, batchSize: 500 });
    expect(runCounts(dry)).toEqual(expected);
    expect(await ctx.db('asset_versions').count({ n: '*' })).toEqual([{ n: 10_000 }]);

    const real = await runSweep(ctx, { batchSize: 500, historyLimit: 20 });
    expect(runCounts(real)).toEqual(expected);
    const handle = ctx.temporal.client.workflow.getHandle(real.workflow_id);
    const description = await handle.describe();
    expect(description.runId).not.toBe(description.raw.workflowExecutionInfo?.firstRunId);

    expect(await ctx.db('asset_versions').count({ n: '*' })).toEqual([{ n: 3000 }]);
    expect(await ctx.db('assets').where({ version_count: 30 }).count({ n: '*' })).toEqual([{ n: 100 }]);
    expect(await ctx.db('asset_versions').where('version_number', '<=', 70).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await bucketKeys(ctx)).toHaveLength(10 * 30);
    expect(await mismatches(ctx, sample)).toEqual({ rowsWithoutObject: [], objectsWithoutRow: [] });
  }, 120_000);
});

describe('determinism', () => {
  it('the fresh histories of the sweeps above replay against the current workflow code', async () => {
    expect(histories.length).toBe(3);
    const fetched = await Promise.all(
      histories.map(async ({ name, workflowId }) => ({ name, workflowId, history: await ctx.temporal.client.workflow.getHandle(workflowId).fetchHistory() })),
    );
    expect(await replay(fetched)).toEqual([]);
    recordHistories(fetched);
  });
});
