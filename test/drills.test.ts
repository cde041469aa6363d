/**
 * Issue 28, restore drills over HTTP against the real stack: a drill of a good backup passes and stamps
 * it; one of a backup with a damaged blob fails and names the asset and version; the scratch prefix is
 * empty after both (and a killed drill's scratch is removed by the next); only admins may start or read drills, bad input is 400; /health is degraded while no
 * backup was proven restorable within twice the drill period, and not on a fresh deployment.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { blobKeyFor } from '../lib/backups/catalog';
import { bytesOf } from './support/assets';
import { resetAll, runBackup } from './support/backups';
import { addAsset, addVersion, keysOf } from './support/catalog';
import { useTestService } from './support/context';
import { tokenFor } from './support/auth';
import { call, expectProblem } from './support/http';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';

// A sample that covers every asset of these small catalogs.
const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '60', STORAGE_RESTORE_DRILL_SAMPLE_ASSETS: '1000' });
afterEach(async () => {
  await resetAll(ctx);
});

const drills = () => `${ctx.baseUrl}/api/v2/restore-drills`;

async function awaitDrill(id: string): Promise<Record<string, any>> {
  return waitUntil(
    `drill ${id} to end`,
    async () => {
      const res = await call(`${drills()}/${id}`);
      if (res.status !== 200) throw new Error(`GET drill ${id}: ${res.status} ${JSON.stringify(res.body)}`);
      return ['passed', 'failed'].includes(res.body.status) && res.body;
    },
    60_000,
    200,
  );
}

/** Three assets, one with two versions: a backup of every version. */
async function catalogAndBackup() {
  const a = (await addAsset(ctx.baseUrl, bytesOf(3000), { name: 'portrait.png', content_type: 'image/png' })).body.id;
  await addVersion(ctx.baseUrl, a, bytesOf(2000));
  const b = (await addAsset(ctx.baseUrl, bytesOf(1500), { name: 'map.tif', content_type: 'image/tiff' })).body.id;
  const c = (await addAsset(ctx.baseUrl, bytesOf(700), { name: 'notes.txt', content_type: 'text/plain' })).body.id;
  const backup = await runBackup(ctx, { includeAllVersions: true });
  expect(backup.status).toBe('completed');
  return { assets: [a, b, c], backup };
}

const scratchKeys = () => keysOf(ctx, ctx.config.s3.bucket, 'drills/');

it('a drill of a good backup passes, checks every sampled byte, stamps the backup, and leaves no scratch', async () => {
  const { backup } = await catalogAndBackup();
  // What a drill whose run was killed left behind: the next drill removes it.
  const crashed = `drills/${uuidv7()}/leftover`;
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: crashed, Body: 'scratch' }));
  expect(await scratchKeys()).toEqual([crashed]);
  const started = await call(drills(), { method: 'POST', json: { backup_id: backup.id } });
  expect(started.status).toBe(202);
  expect(started.headers.get('location')).toBe(`/api/v2/operations/restore-drill-${started.body.id}`);
  expect(started.body).toMatchObject({ backup_id: backup.id, trigger: 'api', workflow_id: `restore-drill-${started.body.id}` });

  const drill = await awaitDrill(started.body.id);
  expect(drill).toMatchObject({ status: 'passed', backup_id: backup.id, assets_total: 3, assets_checked: 3, bytes_checked: 7200, failures: [], error: null });
  expect(await scratchKeys()).toEqual([]);

  const stamped = await call(`${ctx.baseUrl}/api/v2/backups/${backup.id}`);
  expect(stamped.body).toMatchObject({ verified_by_drill: drill.id, verified_restore_at: expect.any(String) });
  const op = await call(`${ctx.baseUrl}/api/v2/operations/restore-drill-${drill.id}`);
  expect(op.body).toMatchObject({ kind: 'restore_drill', status: 'succeeded', done: true, resource: `/api/v2/restore-drills/${drill.id}` });
  const listed = await call(`${drills()}?backup_id=${backup.id}`);
  expect(listed.body.items.map((d: { id: string }) => d.id)).toEqual([drill.id]);
  const events = await ctx.db('outbox_events').where({ subject: drill.id, type: 'storage.restore_drill.completed' }).select('data');
  expect(events.map((e) => e.data)).toEqual([expect.objectContaining({ status: 'passed', backup_id: backup.id, assets_checked: 3 })]);
  expect(await ctx.db('audit_log').where({ action: 'restore_drill.complete', backup_id: backup.id }).select('outcome')).toEqual([{ outcome: 'passed' }]);
});

it('a drill of a backup with a damaged blob fails, names the asset and version, stamps nothing, and leaves no scratch', async () => {
  const { assets, backup } = await catalogAndBackup();
  const victim = await ctx.db('asset_versions').where({ asset_id: assets[1] }).first();
  // Other bytes of the same size at the blob's address: only reading it finds out.
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: blobKeyFor(victim.checksum_sha256), Body: bytesOf(victim.size_bytes) }));

  // No body: the newest completed backup.
  const started = await call(drills(), { method: 'POST' });
  expect(started.status).toBe(202);
  const drill = await awaitDrill(started.body.id);
  expect(drill).toMatchObject({ status: 'failed', backup_id: backup.id, assets_checked: 3 });
  expect(drill.failures).toEqual([{ asset_id: assets[1], version_id: victim.id, reason: expect.stringContaining('hash') }]);
  expect(drill.error).toContain(assets[1]);
  expect(await scratchKeys()).toEqual([]);

  const after = await call(`${ctx.baseUrl}/api/v2/backups/${backup.id}`);
  expect(after.body).toMatchObject({ verified_restore_at: null, verified_by_drill: null });
  const op = await call(`${ctx.baseUrl}/api/v2/operations/restore-drill-${drill.id}`);
  expect(op.body).toMatchObject({ status: 'failed', error: { detail: expect.stringContaining(assets[1]) } });
  // The next backup does not trust that blob: the drill recorded it damaged.
  expect(await ctx.db('backup_blob_checks').where({ sha256: victim.checksum_sha256 }).first()).toMatchObject({ damaged_at: expect.any(Date) });
});

it('only admins start or read drills (nothing starts otherwise); bad input is 400; no backup is 409, an unknown one 404', async () => {
  const user = await tokenFor({ sub: 'player-1' });
  expect((await call(drills(), { method: 'POST', as: user })).status).toBe(403);
  expect((await call(drills(), { as: user })).status).toBe(403);
  expect(await ctx.db('restore_drills').count({ n: '*' })).toEqual([{ n: 0 }]);

  expectProblem(await call(drills(), { method: 'POST', json: { backup_id: 'not-a-uuid' } }), 400);
  expectProblem(await call(drills(), { method: 'POST', json: { sample: 5 } }), 400);
  expectProblem(await call(`${drills()}?status=done`), 400);
  expectProblem(await call(`${drills()}/nope`), 400);
  expectProblem(await call(`${drills()}/0190c6d2-5c00-7933-8c44-4d5e6f708192`), 404);
  expectProblem(await call(drills(), { method: 'POST' }), 409);
  expectProblem(await call(drills(), { method: 'POST', json: { backup_id: '0190c6d2-5a00-7911-8a22-2b3c4d5e6f70' } }), 404);
  expect(await ctx.db('restore_drills').count({ n: '*' })).toEqual([{ n: 0 }]);
});

it('/health is degraded while no backup was proven restorable within twice the drill period, and ok once a drill passes', async () => {
  // A fresh deployment, no backup yet: nothing to prove.
  const fresh = await call(`${ctx.baseUrl}/health`);
  expect(fresh.status).toBe(200);
  expect(fresh.body).toMatchObject({ status: 'ok', restore_drills: { status: 'ok', last_verified_restore_at: null } });

  const { backup } = await catalogAndBackup();
  // A backup as fresh as this one is not judged yet either.
  expect((await call(`${ctx.baseUrl}/health`)).body.status).toBe('ok');
  // Three days old, never drilled: degraded, saying why.
  await ctx
    .db('backup_jobs')
    .where({ id: backup.id })
    .update({ completed_at: new Date(Date.now() - 3 * 86_400_000) });
  const unproven = await call(`${ctx.baseUrl}/health`);
  expect(unproven.status).toBe(503);
  expect(unproven.body).toMatchObject({ status: 'degraded', down: [], restore_drills: { status: 'unproven', period_hours: 24, reason: expect.any(String) } });

  const started = await call(drills(), { method: 'POST', json: { backup_id: backup.id } });
  expect((await awaitDrill(started.body.id)).status).toBe('passed');
  const proven = await call(`${ctx.baseUrl}/health`);
  expect(proven.status).toBe(200);
  expect(proven.body).toMatchObject({ status: 'ok', restore_drills: { status: 'ok', last_verified_restore_at: expect.any(String) } });
});

it('the schedule drills the newest completed backup, acting for the system, and starts no drill while there is none', async () => {
  const runScheduled = () =>
    ctx.temporal.client.workflow.execute('scheduledRestoreDrillWorkflow', {
      workflowId: `restore-drill-scheduled-test-${uuidv7()}`,
      taskQueue: ctx.config.temporal.taskQueue,
      args: [],
    });
  expect(await runScheduled()).toEqual({ drillId: null, drill: null });
  expect(await ctx.db('restore_drills').count({ n: '*' })).toEqual([{ n: 0 }]);

  await catalogAndBackup();
  const newest = await runBackup(ctx);
  const ran = (await runScheduled()) as { drillId: string; drill: { status: string } };
  expect(ran.drill.status).toBe('passed');
  expect((await call(`${drills()}/${ran.drillId}`)).body).toMatchObject({ status: 'passed', trigger: 'schedule', backup_id: newest.id });
  expect((await call(`${ctx.baseUrl}/api/v2/backups/${newest.id}`)).body).toMatchObject({ verified_by_drill: ran.drillId });
});

it('a drill of a backup that holds no asset (a deployment with none yet) passes: /health is not degraded for an empty catalog', async () => {
  const backup = await runBackup(ctx);
  expect(backup).toMatchObject({ status: 'completed' });
  await ctx
    .db('backup_jobs')
    .where({ id: backup.id })
    .update({ completed_at: new Date(Date.now() - 3 * 86_400_000) });
  const started = await call(drills(), { method: 'POST', json: { backup_id: backup.id } });
  expect(started.status).toBe(202);
  expect(await awaitDrill(started.body.id)).toMatchObject({ status: 'passed', assets_total: 0, failures: [], error: null });
  const health = await call(`${ctx.baseUrl}/health`);
  expect({ status: health.status, body: health.body }).toMatchObject({ status: 200, body: { status: 'ok', restore_drills: { status: 'ok' } } });
});

it('a drill of a backup whose manifest is gone, or cut short, fails at once saying so (no retries of what no retry fixes)', async () => {
  await addAsset(ctx.baseUrl, bytesOf(900), { name: 'lost.bin' });
  for (const [what, damage] of [
    ['missing', (key: string) => ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: key }))],
    ['shorter', (key: string) => ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: key, Body: '{"type":"header"}\n' }))],
  ] as const) {
    const backup = await runBackup(ctx);
    await damage(backup.manifest_key!);
    const res = await call(drills(), { method: 'POST', json: { backup_id: backup.id }, headers: { Prefer: 'wait=20' } });
    expect({ what, status: res.status }).toEqual({ what, status: 200 });
    expect(res.body).toMatchObject({ status: 'failed', error: expect.stringMatching(new RegExp(`manifest.*${what}`)) });
  }
}, 120_000);
