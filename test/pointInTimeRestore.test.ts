/**
 * Restores to a point in time over HTTP against the real stack (issue 28): twenty assets of one tag,
 * some whose kept versions reach back to as_of, some whose version of then was pruned (a small
 * STORAGE_MAX_VERSIONS) but a backup taken before as_of holds it, unchanged ones, one soft-deleted since,
 * one made after as_of. The dry run lists exactly those sources and writes nothing; the real run gives
 * each asset back the bytes it had at as_of (checked by SHA-256 of what is downloaded); a second dry run
 * then finds every one unchanged. Also: who may start one, bad input, and sources that do not reach back.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { blobKeyFor } from '../lib/backups/catalog';
import { bytesOf, download, sha256 } from './support/assets';
import { addAsset, addVersion } from './support/catalog';
import { backupClientOf, resetAll, runBackup, seedCatalog, settled } from './support/backups';
import { readRestore } from '../lib/backups/backupRuns';
import { startPointInTimeRestore } from '../lib/backups/pointInTimeRuns';
import { insertPointInTimeRestore } from '../lib/backups/pointInTime';
import { expireBackups } from '../lib/backups/retention';
import { TEST_ADMIN } from './support/auth';
import { useTestService } from './support/context';
import { adminToken, tokenFor } from './support/auth';
import { cliEnv, storage } from './support/cli';
import { call, expectProblem } from './support/http';
import { waitUntil } from './support/processes';
import { recordHistories, replay } from './support/replay';

const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '60', STORAGE_MAX_VERSIONS: '2' });
afterEach(async () => {
  await resetAll(ctx);
});

const TAG = 'campaign-7';

const upload = async (file: Buffer, tags = TAG): Promise<string> => {
  const res = await addAsset(ctx.baseUrl, file, { name: 'map.png', content_type: 'image/png', tags });
  expect(res.status).toBe(201);
  return res.body.id;
};
const newVersion = async (assetId: string, file: Buffer): Promise<string> => {
  const res = await addVersion(ctx.baseUrl, assetId, file);
  expect(res.status).toBe(201);
  return res.body.id;
};

/** A moment after everything so far and before anything after: the database and the test share the machine's clock. */
async function now(): Promise<string> {
  const at = Date.now();
  await waitUntil('the clock to move', async () => Date.now() > at + 2);
  return new Date(at).toISOString();
}

async function restore(body: Record<string, unknown>): Promise<any> {
  const res = await call(`${ctx.baseUrl}/api/v2/restores`, { method: 'POST', json: body });
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ mode: 'point_in_time', backup_id: null, as_of: new Date(body.as_of as string).toISOString() });
  return waitUntil(
    `restore ${res.body.id} to end`,
    async () => {
      const got = await call(`${ctx.baseUrl}/api/v2/restores/${res.body.id}`);
      expect(got.status).toBe(200);
      return got.body.status === 'completed' || got.body.status === 'failed' ? got.body : undefined;
    },
    120_000,
    250,
  );
}

/** Every item, through the paged list (a small page, so that paging is used). */
async function itemsOf(restoreId: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await call(`${ctx.baseUrl}/api/v2/restores/${restoreId}/items?limit=7${q}`);
    expect(page.status).toBe(200);
    items.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return items;
}

const bySource = (items: any[]) => Object.fromEntries(items.map((i) => [i.asset_id, i.source]));

async function contentSha(assetId: string): Promise<string> {
  const res = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(res.status).toBe(200);
  return sha256(res.body);
}

async function footprint() {
  const [versions] = await ctx.db('asset_versions').count('* as n');
  const [sessions] = await ctx.db('upload_sessions').count('* as n');
  const deleted = await ctx.db('assets').where({ is_deleted: true }).pluck('id');
  return { versions: Number(versions.n), sessions: Number(sessions.n), deleted };
}

describe('a tag of twenty assets back to as_of', () => {
  it('lists each source in a dry run, restores every byte, and then finds everything unchanged', async () => {
    const thenSha = new Map<string, string>();
    const expected = new Map<string, string>();
    const made = async (kind: string, n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const bytes = bytesOf(500 + i * 37);
        const id = await upload(bytes);
        thenSha.set(id, sha256(bytes));
        expected.set(id, kind);
        ids.push(id);
      }
      return ids;
    };
    const byVersion = await made('version', 8);
    const byBackup = await made('backup', 8);
    await made('unchanged', 1);
    const [restoredBack] = await made('unchanged', 1);
    const [deletedSince] = await made('version', 1);
    const other = await upload(bytesOf(900), 'other');
    const backup = await runBackup(ctx);
    expect(backup.status).toBe('completed');
    const asOf = await now();

    for (const id of byVersion) await newVersion(id, bytesOf(700));
    // Two more versions each: with at most two kept, the version of as_of is pruned; the backup holds it.
    for (const id of byBackup) {
      await newVersion(id, bytesOf(710));
      await newVersion(id, bytesOf(720));
    }
    const first = (await ctx.db('asset_versions').where({ asset_id: restoredBack, version_number: 1 }).first()).id;
    await newVersion(restoredBack, bytesOf(730));
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${restoredBack}/versions/${first}/restore`, { method: 'POST' })).status).toBe(201);
    await newVersion(deletedSince, bytesOf(740));
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${deletedSince}`, { method: 'DELETE' })).status).toBe(204);
    const lateBytes = bytesOf(333);
    const late = await upload(lateBytes);
    expected.set(late, 'skipped');
    await newVersion(other, bytesOf(950));
    for (const id of byBackup) expect(await ctx.db('asset_versions').where({ asset_id: id, version_number: 1 }).first()).toBeUndefined();
    expect(expected.size).toBe(20);

    // The dry run: exactly those assets, those sources, nothing written.
    const before = await footprint();
    const dry = await restore({ as_of: asOf, tag: TAG });
    expect(dry).toMatchObject({ status: 'completed', sources: { version: 9, backup: 8, unchanged: 2, skipped: 1 } });
    const planned = await itemsOf(dry.id);
    expect(bySource(planned)).toEqual(Object.fromEntries(expected));
    for (const item of planned) {
      if (item.source === 'skipped') expect(item).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/did not exist at as_of/) });
      else expect(item).toMatchObject({ status: item.source === 'unchanged' ? 'skipped' : 'planned', sha256: thenSha.get(item.asset_id), version_id: null });
      if (item.source === 'backup') expect(item.source_backup_id).toBe(backup.id);
    }
    expect(dry.items).toHaveLength(20);
    expect(await footprint()).toEqual(before);

    // The real run: what the dry run listed, done.
    const real = await restore({ as_of: asOf, tag: TAG, dry_run: false });
    expect(real).toMatchObject({
      status: 'completed',
      error: null,
      sources: dry.sources,
      progress: { assets_done: 20, assets_restored: 17, assets_failed: 0 },
    });
    const done = await itemsOf(real.id);
    expect(bySource(done)).toEqual(bySource(planned));
    for (const item of done.filter((i) => i.source === 'version' || i.source === 'backup')) {
      expect(item).toMatchObject({ status: 'restored', version_id: expect.any(String), sha256: thenSha.get(item.asset_id) });
    }
    expect(done.find((i) => i.asset_id === deletedSince)).toMatchObject({ source: 'version', undeleted: true });
    for (const [id, sha] of thenSha) expect({ id, sha: await contentSha(id) }).toEqual({ id, sha });
    expect(await contentSha(late)).toBe(sha256(lateBytes));
    expect(await ctx.db('asset_versions').where({ asset_id: other }).pluck('version_number')).toEqual([1, 2]);
    // A restore is a new version: the versions of after as_of are kept (those under the maximum).
    expect(await ctx.db('asset_versions').where({ asset_id: byVersion[0] }).orderBy('version_number').pluck('version_number')).toEqual([2, 3]);
    // Audited: the request, and each new version's commit, acting for the admin who asked.
    expect(await ctx.db('audit_log').where({ action: 'restore.point_in_time', restore_id: real.id }).pluck('actor')).toEqual(['test-admin']);
    const commits = await ctx
      .db('audit_log')
      .where({ action: 'upload.commit', actor: 'test-admin' })
      .whereIn('version_id', done.map((i) => i.version_id).filter(Boolean))
      .pluck('asset_id');
    expect(commits.sort()).toEqual(
      done
        .filter((i) => i.version_id)
        .map((i) => i.asset_id)
        .sort(),
    );
    const listed = await call(`${ctx.baseUrl}/api/v2/restores?limit=5`);
    expect(listed.body.items.find((r: any) => r.id === real.id)).toMatchObject({ mode: 'point_in_time', backup_id: null, as_of: asOf, filter: { tag: TAG } });
    const operation = await call(`${ctx.baseUrl}/api/v2/operations/restore-${real.id}`);
    expect(operation.body).toMatchObject({ status: 'succeeded', done: true, result: `/api/v2/restores/${real.id}` });

    // Nothing left to do.
    const again = await restore({ as_of: asOf, tag: TAG });
    expect(again.sources).toEqual({ version: 0, backup: 0, unchanged: 19, skipped: 1 });
  });
});

describe('what does not reach back, who may, and bad input', () => {
  it('skips with a reason an asset no source reaches back for, and one made after as_of', async () => {
    const old = await upload(bytesOf(400));
    const asOf = await now();
    await newVersion(old, bytesOf(410));
    await newVersion(old, bytesOf(420));
    const young = await upload(bytesOf(430));
    const result = await restore({ as_of: asOf, asset_ids: [old, young], dry_run: false });
    expect(result.status).toBe('completed');
    const items = Object.fromEntries(result.items.map((i: any) => [i.asset_id, i]));
    expect(items[old]).toMatchObject({
      source: 'skipped',
      status: 'skipped',
      reason: expect.stringMatching(/neither source reaches back.*no completed backup/),
    });
    expect(items[young]).toMatchObject({ source: 'skipped', reason: expect.stringMatching(/did not exist at as_of/) });
    expect(await ctx.db('asset_versions').where({ asset_id: old }).pluck('version_number')).toHaveLength(2);
  });

  it('goes through many assets a page at a time, continuing as new, each asset dealt with once', async () => {
    await seedCatalog(ctx, 60);
    const asOf = new Date(await now());
    const row = await startPointInTimeRestore(backupClientOf(ctx), TEST_ADMIN, { asOf, filter: { tag: 'seeded' }, dryRun: false, historyLimit: 8 });
    await settled(ctx, row.workflow_id);
    const result = await readRestore(backupClientOf(ctx), row.id);
    expect(result).toMatchObject({ status: 'completed', progress: { assets_total: 60, assets_done: 60 }, sources: { unchanged: 60 }, items_next: null });
    expect(result.items).toHaveLength(60);
    const described = await ctx.temporal.client.workflow.getHandle(row.workflow_id).describe();
    const firstRunId = described.raw.workflowExecutionInfo?.firstRunId ?? undefined;
    expect(firstRunId).not.toBe(described.runId);
    const first = {
      name: 'point-in-time-restore-continued-first-run',
      workflowId: row.workflow_id,
      history: await ctx.temporal.client.workflow.getHandle(row.workflow_id, firstRunId).fetchHistory(),
    };
    expect(await replay([first])).toEqual([]);
    recordHistories([first]);
  });

  it('fails alone an asset whose backup blob is damaged, writing none of its bytes, and restores the others', async () => {
    const [a1, b1] = [bytesOf(600), bytesOf(610)];
    const [a, b] = [await upload(a1), await upload(b1)];
    expect((await runBackup(ctx)).status).toBe('completed');
    const asOf = await now();
    const lastA = bytesOf(620);
    for (const id of [a, b]) await newVersion(id, bytesOf(615));
    await newVersion(a, lastA);
    await newVersion(b, bytesOf(625));
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: blobKeyFor(sha256(a1)), Body: bytesOf(600) }));

    const result = await restore({ as_of: asOf, asset_ids: [a, b], dry_run: false });
    expect(result).toMatchObject({ status: 'failed', error: expect.stringContaining(`asset ${a}`), progress: { assets_restored: 1, assets_failed: 1 } });
    const items = Object.fromEntries(result.items.map((i: any) => [i.asset_id, i]));
    expect(items[a]).toMatchObject({ status: 'failed', source: 'backup', version_id: null, reason: expect.stringMatching(/checksum mismatch/) });
    expect(items[b]).toMatchObject({ status: 'restored', source: 'backup', sha256: sha256(b1) });
    expect(await contentSha(a)).toBe(sha256(lastA));
    expect(await contentSha(b)).toBe(sha256(b1));

    // Workflow code stays deterministic: the restore and its copy uploads from the backup bucket
    // (one failed, one committed) replay, and are kept as fixtures for test/replay.test.ts.
    const copies = await ctx.db('upload_sessions').where({ kind: 'copy' }).whereIn('result_asset_id', [a, b]).select('workflow_id', 'result_asset_id');
    expect(copies).toHaveLength(2);
    const historyOf = (workflowId: string) => ctx.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    const histories = [
      { name: 'point-in-time-restore', workflowId: result.workflow_id, history: await historyOf(result.workflow_id) },
      ...(await Promise.all(
        copies.map(async (c: any) => ({
          name: `upload-copy-from-backup-${c.result_asset_id === a ? 'damaged' : 'verified'}`,
          workflowId: c.workflow_id,
          history: await historyOf(c.workflow_id),
        })),
      )),
    ];
    expect(await replay(histories)).toEqual([]);
    recordHistories(histories);
  });

  it('a damaged version is no source and not "unchanged": the asset is restored from the backup that holds its bytes', async () => {
    const bytes = bytesOf(680);
    const id = await upload(bytes);
    const backup = await runBackup(ctx);
    const asOf = await now();
    // What a scrub leaves when no backup answered it: the object's bytes wrong, the version marked damaged.
    const version = await ctx.db('asset_versions').where({ asset_id: id }).first();
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key, Body: bytesOf(679) }));
    await ctx.db('asset_versions').where({ id: version.id }).update({ damaged_at: new Date(), damage: 'its bytes hash wrong' });
    expectProblem(await call(`${ctx.baseUrl}/api/v2/assets/${id}/content`), 409);

    const dry = await restore({ as_of: asOf, asset_ids: [id] });
    expect(dry.items).toEqual([
      expect.objectContaining({ asset_id: id, status: 'planned', source: 'backup', source_backup_id: backup.id, sha256: sha256(bytes) }),
    ]);
    const real = await restore({ as_of: asOf, asset_ids: [id], dry_run: false });
    expect(real).toMatchObject({ status: 'completed', items: [expect.objectContaining({ status: 'restored', source: 'backup' })] });
    expect(await contentSha(id)).toBe(sha256(bytes));
  });

  it('passes over a backup whose manifest is corrupt for an older one that holds the asset', async () => {
    const first = bytesOf(640);
    const id = await upload(first);
    const older = await runBackup(ctx);
    const newer = await runBackup(ctx);
    const asOf = await now();
    await newVersion(id, bytesOf(650));
    await newVersion(id, bytesOf(660));
    await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: newer.manifest_key!, Body: 'not a manifest\n' }));

    const dry = await restore({ as_of: asOf, asset_ids: [id] });
    expect(dry.items).toEqual([expect.objectContaining({ asset_id: id, source: 'backup', source_backup_id: older.id, sha256: sha256(first) })]);
  });

  it('keeps an expired backup from retention while a restore to a point in time after it may read it', async () => {
    await upload(bytesOf(100));
    const backup = await runBackup(ctx);
    await ctx
      .db('backup_jobs')
      .where({ id: backup.id })
      .update({ expires_at: new Date(Date.now() - 60_000) });
    // One whose as_of is before the backup began cannot read it: it does not keep it.
    await insertPointInTimeRestore(ctx.db, {
      asOf: new Date(Date.parse(backup.created_at) - 1000),
      filter: { tag: TAG },
      dryRun: true,
      actor: TEST_ADMIN,
    });
    const after = await insertPointInTimeRestore(ctx.db, { asOf: new Date(), filter: { tag: TAG }, dryRun: true, actor: TEST_ADMIN });
    const noAudit = async () => {};
    expect((await expireBackups(ctx.db, new Date(), noAudit)).marked).toBe(0);
    await ctx.db('backup_jobs').where({ id: after }).update({ status: 'completed' });
    expect((await expireBackups(ctx.db, new Date(), noAudit)).marked).toBe(1);
  });

  it('refuses a caller who is not an admin, and starts nothing', async () => {
    const id = await upload(bytesOf(100));
    const user = await tokenFor({ sub: 'player-1', roles: [] });
    const res = await call(`${ctx.baseUrl}/api/v2/restores`, { method: 'POST', as: user, json: { as_of: new Date().toISOString(), asset_ids: [id] } });
    expectProblem(res, 403);
    expect(await ctx.db('backup_jobs').pluck('id')).toEqual([]);
  });

  it('answers bad input 400 with a problem, and starts nothing', async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const bodies = [
      { as_of: future, tag: TAG },
      { as_of: new Date().toISOString() },
      { as_of: new Date().toISOString(), tag: TAG, colour: 'blue' },
      { as_of: 'yesterday', tag: TAG },
      { as_of: '2026-12-07 14:00', tag: TAG },
      { tag: TAG },
    ];
    for (const json of bodies) {
      const res = await call(`${ctx.baseUrl}/api/v2/restores`, { method: 'POST', json });
      expectProblem(res, 400);
    }
    expectProblem(
      await call(`${ctx.baseUrl}/api/v2/restores`, {
        method: 'POST',
        json: { as_of: new Date().toISOString(), asset_ids: ['0190c6d2-5a00-7911-8a22-2b3c4d5e6f70'] },
      }),
      404,
    );
    expect(await ctx.db('backup_jobs').pluck('id')).toEqual([]);
  });
});

describe('storage restore --as-of', () => {
  it("dry-runs unless --apply, and with --apply --wait gives the group's assets back their bytes", async () => {
    const bytes = bytesOf(800);
    const id = await upload(bytes);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${id}/grants`, { method: 'PUT', json: [{ subject: 'group:table-3', access: 'read' }] })).status).toBe(200);
    const asOf = await now();
    await newVersion(id, bytesOf(810));
    const env = cliEnv(ctx.baseUrl, await adminToken());

    const dry = await storage(env, ['restore', '--as-of', asOf, '--group', 'table-3', '--wait', '--json']);
    expect(dry.code).toBe(0);
    expect(dry.json()).toMatchObject({ status: 'completed', sources: { version: 1 }, items: [{ asset_id: id, status: 'planned', source: 'version' }] });
    expect(await contentSha(id)).not.toBe(sha256(bytes));

    const applied = await storage(env, ['restore', '--as-of', asOf, '--group', 'table-3', '--apply', '--wait']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/1 from versions, 0 from backups, 0 unchanged, 0 skipped/);
    expect(await contentSha(id)).toBe(sha256(bytes));

    const usage = await storage(env, ['restore']);
    expect(usage.code).toBe(2);
  });
});
