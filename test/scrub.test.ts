/**
 * The scrub over HTTP against the real stack (issue 28): what it finds in the asset bucket, the
 * catalog and the backup bucket, what it repairs from a backup, what it cannot (a damaged version's
 * content answers a problem), a dry run that changes nothing, its access rule and bad input, and a
 * run of tiny steps that continues as new and still counts right.
 */
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { blobKeyFor } from '../lib/backups/catalog';
import { insertScrub } from '../lib/scrub/scrubs';
import { startScrub } from '../lib/scrub/scrubRuns';
import { scrubWorkflowId } from '../workflows/scrub/definitions';
import { pruneEndedRows } from '../lib/lifecycle/tableRetention';
import { uuidv7 } from '../lib/platform/ids';
import { bytesOf, download, sha256 } from './support/assets';
import { TEST_ADMIN, adminToken, tokenFor } from './support/auth';
import { cliEnv, storage } from './support/cli';
import { backupClientOf, objectBytes, resetAll, runBackup, seedCatalog, settled } from './support/backups';
import { addAsset, addVersion } from './support/catalog';
import { useTestService } from './support/context';
import { call, expectProblem } from './support/http';
import { envFor, spawnService, waitUntil } from './support/processes';
import { recordHistories, replay } from './support/replay';

const ctx = useTestService({
  STORAGE_UPLOAD_WAIT_SECONDS: '60',
  // Objects and multipart uploads count as soon as they are listed: the test makes them just before.
  STORAGE_SCRUB_GRACE_HOURS: '0',
  STORAGE_SCRUB_MULTIPART_AGE_HOURS: '0',
});

afterEach(async () => {
  // A test that failed half-way may leave its multipart upload: the next must not find it.
  for (const u of (await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.config.s3.bucket }))).Uploads ?? [])
    await ctx.s3.send(new AbortMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: u.Key, UploadId: u.UploadId }));
  await resetAll(ctx);
  await ctx.db.raw('TRUNCATE scrubs, scrub_findings, backup_blob_checks');
});

const NONE = { orphan_object: 0, missing_object: 0, incomplete_multipart: 0, checksum_mismatch: 0, backup_blob_damaged: 0, backup_blob_missing: 0 };

interface Uploaded {
  id: string;
  versionId: string;
  key: string;
  bytes: Buffer;
}

async function upload(size: number): Promise<Uploaded> {
  const bytes = bytesOf(size);
  const res = await addAsset(ctx.baseUrl, bytes, { name: 'scrubbed.bin' });
  expect(res.status).toBe(201);
  const row = await ctx.db('asset_versions').where({ asset_id: res.body.id }).first();
  return { id: res.body.id, versionId: row.id, key: row.object_key, bytes };
}

/** POST /scrubs, then its operation followed to its end; answers the scrub as GET /scrubs/{id} does. */
async function scrub(body: Record<string, unknown>) {
  const started = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: body });
  expect(started.status).toBe(202);
  expect(started.headers.get('location')).toBe(`/api/v2/operations/scrub-${started.body.id}`);
  const op = await waitUntil(
    'the scrub to end',
    async () => {
      const res = await call(`${ctx.baseUrl}${started.headers.get('location')}`);
      expect(res.status).toBe(200);
      return res.body.done ? res.body : undefined;
    },
    120_000,
    250,
  );
  expect(op).toMatchObject({ kind: 'scrub', status: 'succeeded', resource: `/api/v2/scrubs/${started.body.id}` });
  const read = await call(`${ctx.baseUrl}/api/v2/scrubs/${started.body.id}`);
  expect(read.status).toBe(200);
  return read.body;
}

const exists = async (bucket: string, key: string) =>
  ctx.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(
    () => true,
    () => false,
  );
const openUploads = async () => ((await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.config.s3.bucket }))).Uploads ?? []).map((u) => u.UploadId);

function flipped(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] ^= 0xff;
  return copy;
}

it('one scrub repairs a missing and a flipped object from a backup, removes an orphan and an incomplete upload, repairs a damaged blob; a dry run before changes nothing; a second scrub finds nothing', async () => {
  const since = new Date();
  const bucket = ctx.config.s3.bucket;
  const backups = ctx.config.s3.backupBucket;
  const [gone, flip, blobbed, other] = [await upload(3000), await upload(5000), await upload(4000), await upload(2000)];
  expect((await runBackup(ctx)).status).toBe('completed');

  await ctx.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: gone.key }));
  await ctx.s3.send(new PutObjectCommand({ Bucket: bucket, Key: flip.key, Body: flipped(flip.bytes) }));
  const orphanKey = `assets/${uuidv7()}/${uuidv7()}`;
  await ctx.s3.send(new PutObjectCommand({ Bucket: bucket, Key: orphanKey, Body: bytesOf(100) }));
  const leftKey = `assets/${uuidv7()}/${uuidv7()}`;
  const left = await ctx.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: leftKey }));
  await ctx.s3.send(new UploadPartCommand({ Bucket: bucket, Key: leftKey, UploadId: left.UploadId, PartNumber: 1, Body: bytesOf(1024) }));
  const blobKey = blobKeyFor(sha256(blobbed.bytes));
  await ctx.s3.send(new PutObjectCommand({ Bucket: backups, Key: blobKey, Body: bytesOf(blobbed.bytes.length) }));
  const expected = { ...NONE, orphan_object: 1, missing_object: 1, incomplete_multipart: 1, checksum_mismatch: 1, backup_blob_damaged: 1 };

  const dry = await scrub({ dry_run: true, sample_percent: 100 });
  expect(dry).toMatchObject({ status: 'completed', dry_run: true, counts: expected, findings: 5, repaired: 0, unrepairable: 0 });
  expect(await exists(bucket, gone.key)).toBe(false);
  expect(sha256(await objectBytes(ctx, bucket, flip.key))).not.toBe(sha256(flip.bytes));
  expect(await exists(bucket, orphanKey)).toBe(true);
  expect(await openUploads()).toEqual([left.UploadId]);
  expect(sha256(await objectBytes(ctx, backups, blobKey))).not.toBe(sha256(blobbed.bytes));

  const dryFindings = (await call(`${ctx.baseUrl}/api/v2/scrubs/${dry.id}/findings`)).body.items;
  expect(dryFindings.map((f: { kind: string; subject: string }) => `${f.kind} ${f.subject}`)).toEqual([
    `backup_blob_damaged ${sha256(blobbed.bytes)}`,
    `checksum_mismatch ${flip.versionId}`,
    `incomplete_multipart ${leftKey} ${left.UploadId}`,
    `missing_object ${gone.versionId}`,
    `orphan_object ${orphanKey}`,
  ]);
  expect(dryFindings.every((f: { outcome: unknown }) => f.outcome === null)).toBe(true);

  const wet = await scrub({ sample_percent: 100 });
  const wetFindings = (await call(`${ctx.baseUrl}/api/v2/scrubs/${wet.id}/findings?limit=2`)).body;
  expect(wetFindings.items).toEqual(
    dryFindings.slice(0, 2).map((f: object) => ({ ...f, outcome: 'repaired', detail: expect.stringContaining('repaired from'), found_at: expect.any(String) })),
  );
  const more = (await call(`${ctx.baseUrl}/api/v2/scrubs/${wet.id}/findings?limit=5&cursor=${wetFindings.next_cursor}`)).body;
  expect(more.items.map((f: { kind: string }) => f.kind)).toEqual(['incomplete_multipart', 'missing_object', 'orphan_object']);
  const missing = (await call(`${ctx.baseUrl}/api/v2/scrubs/${wet.id}/findings?kind=missing_object`)).body.items[0];
  expect(missing.detail).toContain(`repaired from the backup blob ${backups}/${blobKeyFor(sha256(gone.bytes))}`);
  expect((await call(`${ctx.baseUrl}/api/v2/scrubs/${wet.id}/findings?kind=orphan_object`)).body.items).toEqual([
    expect.objectContaining({ subject: orphanKey, outcome: 'repaired' }),
  ]);
  expect(wet).toMatchObject({ status: 'completed', dry_run: false, trigger: 'api', actor: 'test-admin', counts: expected, repaired: 5, unrepairable: 0 });
  expect(wet.bytes_hashed).toBeGreaterThan(0);
  for (const a of [gone, flip, blobbed, other]) {
    const content = await download(`${ctx.baseUrl}/api/v2/assets/${a.id}/content`);
    expect({ status: content.status, sha256: sha256(content.body) }).toEqual({ status: 200, sha256: sha256(a.bytes) });
  }
  expect(await exists(bucket, orphanKey)).toBe(false);
  expect(await openUploads()).toEqual([]);
  expect(sha256(await objectBytes(ctx, backups, blobKey))).toBe(sha256(blobbed.bytes));

  const completed = await ctx.db('outbox_events').where({ type: 'storage.scrub.completed', subject: wet.id }).first();
  expect(completed.data).toMatchObject({ scrub_id: wet.id, counts: expected, repaired: 5 });
  const actions = (await ctx.db('audit_log').where('action', 'like', 'scrub.%').where('at', '>=', since).select('action', 'version_id')).map((r) =>
    `${r.action} ${r.version_id ?? ''}`.trim(),
  );
  expect(actions.sort()).toEqual(
    [
      // Who started each (the dry run, then this one): the request's own row (api/middleware/auditTrail.ts).
      'scrub.start',
      'scrub.start',
      'scrub.complete',
      'scrub.complete',
      `scrub.version_repaired ${gone.versionId}`,
      `scrub.version_repaired ${flip.versionId}`,
      // Their keys name an asset and a version (none exists): the rows name them too.
      `scrub.orphan_removed ${orphanKey.split('/')[2]}`,
      `scrub.multipart_aborted ${leftKey.split('/')[2]}`,
      `scrub.blob_repaired ${blobbed.versionId}`,
    ].sort(),
  );
  const metrics = await call(`${ctx.baseUrl}/metrics`);
  expect(metrics.body).toMatch(/storage_scrub_findings_total\{kind="orphan_object"\} 1/);
  expect(metrics.body).toMatch(/storage_scrub_seconds_since_complete_pass \d/);

  const again = await scrub({ sample_percent: 100 });
  expect(again).toMatchObject({ status: 'completed', counts: NONE, findings: 0, repaired: 0, unrepairable: 0 });

  const list = await call(`${ctx.baseUrl}/api/v2/scrubs?limit=2`);
  expect(list.status).toBe(200);
  expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([again.id, wet.id]);
  expect(list.body.next_cursor).toEqual(expect.any(String));
  const rest = await call(`${ctx.baseUrl}/api/v2/scrubs?limit=2&cursor=${list.body.next_cursor}`);
  expect(rest.body.items.map((s: { id: string }) => s.id)).toEqual([dry.id]);
}, 300_000);

it('a version no backup holds ends damaged: its JSON says so, its content answers version-damaged, an event and an audit row say it', async () => {
  const lost = await upload(3000);
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: lost.key }));

  const done = await scrub({ sample_percent: 100 });
  expect(done).toMatchObject({ counts: { ...NONE, missing_object: 1 }, repaired: 0, unrepairable: 1 });
  const version = await call(`${ctx.baseUrl}/api/v2/assets/${lost.id}/versions/${lost.versionId}`);
  expect(version.status).toBe(200);
  expect(version.body).toMatchObject({ damaged_at: expect.any(String), damage: expect.stringContaining('missing') });
  for (const path of [`/api/v2/assets/${lost.id}/content`, `/api/v2/assets/${lost.id}/versions/${lost.versionId}/content`]) {
    const res = await call(`${ctx.baseUrl}${path}`);
    expectProblem(res, 409);
    expect(res.body).toMatchObject({ type: '/problems/version-damaged', version_id: lost.versionId, detail: expect.stringContaining('restore') });
  }
  expect(await ctx.db('outbox_events').where({ type: 'storage.version.damaged', subject: lost.id }).count('* as n')).toEqual([{ n: 1 }]);
  expect(await ctx.db('audit_log').where({ action: 'scrub.version_damaged', version_id: lost.versionId }).count('* as n')).toEqual([{ n: 1 }]);

  // Put back (as a restore would), a scrub finds it sound again and clears the mark.
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: lost.key, Body: lost.bytes }));
  expect(await runBackup(ctx)).toMatchObject({ status: 'completed' });
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: lost.key }));
  expect(await scrub({ sample_percent: 100 })).toMatchObject({ counts: { ...NONE, missing_object: 1 }, repaired: 1, unrepairable: 0 });
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${lost.id}/versions/${lost.versionId}`)).body).toMatchObject({ damaged_at: null, damage: null });
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${lost.id}/content`);
  expect({ status: content.status, sha256: sha256(content.body) }).toEqual({ status: 200, sha256: sha256(lost.bytes) });
}, 300_000);

it('only an admin starts or reads scrubs; bad bodies are 400 problems; none of them starts one', async () => {
  const user = await tokenFor({ sub: 'scrub-user' });
  const refused = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: {}, as: user });
  expectProblem(refused, 403);
  expectProblem(await call(`${ctx.baseUrl}/api/v2/scrubs`, { as: user }), 403);
  expectProblem(await call(`${ctx.baseUrl}/api/v2/scrubs/${uuidv7()}`), 404);
  expectProblem(await call(`${ctx.baseUrl}/api/v2/scrubs/${uuidv7()}/findings`), 404);
  expectProblem(await call(`${ctx.baseUrl}/api/v2/scrubs/${uuidv7()}/findings`, { as: user }), 403);
  for (const json of [{ sample_percent: 0 }, { sample_percent: 101 }, { sample_percent: '5%' }, { dry_run: 'yes' }, { surprise: true }, [1]]) {
    const res = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json });
    expectProblem(res, 400);
  }
  expect(await ctx.db('scrubs').count('* as n')).toEqual([{ n: 0 }]);
}, 60_000);

it('a scrub of tiny steps continues as new and resumes from its cursor, and counts every finding once', async () => {
  const seeded = await seedCatalog(ctx, 24, { maxBytes: 512 });
  expect((await runBackup(ctx)).status).toBe('completed');
  const lost = seeded.slice(0, 5).map((a) => a.versions[0]);
  for (const v of lost) await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: v.objectKey }));

  const row = await startScrub(backupClientOf(ctx), TEST_ADMIN, {
    dryRun: false,
    samplePercent: 50,
    tuning: { stepBudgetMs: 1, pageSize: 3, historyLimit: 20 },
  });
  await settled(ctx, row.workflow_id);
  const done = (await call(`${ctx.baseUrl}/api/v2/scrubs/${row.id}`)).body;
  expect(done).toMatchObject({ status: 'completed', counts: { ...NONE, missing_object: 5 }, repaired: 5, unrepairable: 0, objects_listed: 19 });
  // Half of the 24 versions read, those never verified first.
  expect(await ctx.db('asset_versions').whereNotNull('verified_at').count('* as n')).toEqual([{ n: 12 + 5 }]);
  // Its last run was continued from another.
  const history = await ctx.temporal.client.workflow.getHandle(row.workflow_id).fetchHistory();
  const firstRunId = history.events?.[0].workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
  expect(firstRunId).toBeTruthy();
  // Workflow code stays deterministic: these replay against the current bundle (and, recorded, in test/replay.test.ts).
  const histories = [
    { name: 'scrub-continued-last-run', workflowId: row.workflow_id, history },
    {
      name: 'scrub-continued-earlier-run',
      workflowId: row.workflow_id,
      history: await ctx.temporal.client.workflow.getHandle(row.workflow_id, firstRunId!).fetchHistory(),
    },
  ];
  expect(await replay(histories)).toEqual([]);
  recordHistories(histories);
  for (const v of lost) expect(sha256(await objectBytes(ctx, ctx.config.s3.bucket, v.objectKey))).toBe(v.sha256);
}, 300_000);

it('storage scrub --dry-run --sample 5% --wait prints its findings; a bad share is a usage error; a user is denied', async () => {
  const admin = cliEnv(ctx.baseUrl, await adminToken());
  const run = await storage(admin, ['scrub', '--dry-run', '--sample', '5%', '--wait', '--json']);
  expect(run.code).toBe(0);
  expect(run.json()).toMatchObject({ status: 'completed', dry_run: true, sample_percent: 5, trigger: 'api' });
  const said = await storage(admin, ['scrub', '--dry-run', '--wait']);
  expect({ code: said.code, stdout: said.stdout }).toEqual({
    code: 0,
    stdout: expect.stringMatching(/scrub \S+ completed \(dry run\): orphan_object=0 .*repaired=0/),
  });
  expect((await storage(admin, ['scrub', '--sample', '0%'])).code).toBe(2);
  expect((await storage(cliEnv(ctx.baseUrl, await tokenFor({ sub: 'scrub-user' })), ['scrub'])).code).toBe(4);
  expect(await ctx.db('scrubs').count('* as n')).toEqual([{ n: 2 }]);
}, 120_000);

it('the lifecycle sweep deletes scrubs that ended longer ago than STORAGE_SCRUB_RETENTION_DAYS, never one still running', async () => {
  const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000);
  const row = (status: string, completedAt: Date | null) => {
    const id = uuidv7();
    return { id, status, dry_run: false, sample_percent: 25, trigger: 'schedule', workflow_id: `scrub-${id}`, completed_at: completedAt };
  };
  const old = row('completed', daysAgo(91));
  const recent = row('failed', daysAgo(89));
  const running = row('running', null);
  await ctx.db('scrubs').insert([old, recent, running]);
  const removed = await pruneEndedRows({ db: ctx.db, config: ctx.config, isRunning: async () => false, heartbeat: () => {} }, Date.now() + 30_000);
  expect(removed.scrubs).toBe(1);
  expect((await ctx.db('scrubs').pluck('id')).sort()).toEqual([recent.id, running.id].sort());
}, 60_000);

describe('a worker killed mid-scrub', () => {
  const rate = 64 * 1024;
  // A slow budget, so that the scrub is still reading when its worker is killed.
  const slow = useTestService({ STORAGE_SCRUB_MAX_BYTES_PER_SECOND: String(rate), STORAGE_SCRUB_GRACE_HOURS: '0' }, { worker: false });

  it('a new worker resumes it from its last heartbeat: each flipped object repaired once, every count right, within the byte budget', async () => {
    const seeded = await seedCatalog(slow, 16, { maxBytes: 64 * 1024 });
    const first = await slow.startWorker();
    try {
      expect((await runBackup(slow)).status).toBe('completed');
    } finally {
      await first.stop();
    }
    const flippedVersions = seeded.slice(0, 6).map((a) => a.versions[0]);
    for (const v of flippedVersions) {
      const bytes = await objectBytes(slow, slow.config.s3.bucket, v.objectKey);
      await slow.s3.send(new PutObjectCommand({ Bucket: slow.config.s3.bucket, Key: v.objectKey, Body: flipped(bytes) }));
    }
    const doomed = spawnService('worker/main.ts', envFor(slow.config, { STORAGE_SCRUB_MAX_BYTES_PER_SECOND: String(rate) }));
    try {
      const row = await startScrub(backupClientOf(slow), TEST_ADMIN, { dryRun: false, samplePercent: 100, tuning: { stepBudgetMs: 120_000 } });
      const repairs = () => slow.db('audit_log').where({ action: 'scrub.version_repaired' }).count<{ n: number }[]>('* as n');
      await waitUntil('the doomed worker to have repaired two versions', async () => (await repairs())[0].n >= 2, 120_000, 100);
      await doomed.kill();
      const successor = await slow.startWorker();
      try {
        await settled(slow, row.workflow_id);
      } finally {
        await successor.stop();
      }
      const done = (await call(`${slow.baseUrl}/api/v2/scrubs/${row.id}`)).body;
      expect(done).toMatchObject({ status: 'completed', counts: { ...NONE, checksum_mismatch: 6 }, repaired: 6, unrepairable: 0 });
      for (const a of seeded) expect(sha256(await objectBytes(slow, slow.config.s3.bucket, a.versions[0].objectKey))).toBe(a.versions[0].sha256);
      const repaired = await slow.db('audit_log').where({ action: 'scrub.version_repaired' }).pluck('version_id');
      expect(repaired.sort()).toEqual(flippedVersions.map((v) => v.id).sort());
      // Never faster than the budget: one second's worth free, then the rate.
      const seconds = (Date.parse(done.completed_at) - Date.parse(done.started_at)) / 1000;
      expect(seconds).toBeGreaterThanOrEqual(done.bytes_hashed / rate - 1);
    } finally {
      await doomed.kill();
      await slow.temporal.client.schedule
        .getHandle(`storage-scrub-${slow.config.temporal.taskQueue}`)
        .delete()
        .catch(() => undefined);
    }
  }, 300_000);
});

it('a blob a retained backup names that is missing is put back from a live object; one whose content is gone too is reported', async () => {
  const [kept, lost] = [await upload(2500), await upload(3500)];
  expect((await runBackup(ctx)).status).toBe('completed');
  const backups = ctx.config.s3.backupBucket;
  for (const a of [kept, lost]) await ctx.s3.send(new DeleteObjectCommand({ Bucket: backups, Key: blobKeyFor(sha256(a.bytes)) }));
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: lost.key }));

  const done = await scrub({ sample_percent: 100 });
  expect(done).toMatchObject({ counts: { ...NONE, missing_object: 1, backup_blob_missing: 2 }, repaired: 1, unrepairable: 2 });
  expect(sha256(await objectBytes(ctx, backups, blobKeyFor(sha256(kept.bytes))))).toBe(sha256(kept.bytes));
  expect(await exists(backups, blobKeyFor(sha256(lost.bytes)))).toBe(false);
  const checks = await ctx.db('backup_blob_checks').orderBy('size_bytes').select('sha256', 'verified_at', 'damaged_at');
  expect(checks).toEqual([
    { sha256: sha256(kept.bytes), verified_at: expect.any(Date), damaged_at: null },
    { sha256: sha256(lost.bytes), verified_at: null, damaged_at: expect.any(Date) },
  ]);
  const findings = (await call(`${ctx.baseUrl}/api/v2/scrubs/${done.id}/findings?kind=backup_blob_missing`)).body.items;
  expect(findings.map((f: { subject: string; outcome: string }) => [f.subject, f.outcome]).sort()).toEqual(
    [
      [sha256(kept.bytes), 'repaired'],
      [sha256(lost.bytes), 'unrepairable'],
    ].sort(),
  );
}, 120_000);

it("a drill's scratch is the drills' own: the scrub takes no object under drills/ for an orphan, however old", async () => {
  const key = `drills/${uuidv7()}/assets/${uuidv7()}/${uuidv7()}`;
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: key, Body: bytesOf(64) }));
  try {
    const done = await scrub({ sample_percent: 100 });
    expect(done.counts.orphan_object).toBe(0);
    expect(await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.config.s3.bucket, Key: key }))).toMatchObject({ ContentLength: 64 });
  } finally {
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: key }));
  }
}, 120_000);

describe('with a grace period of an hour', () => {
  const graceful = useTestService({ STORAGE_SCRUB_GRACE_HOURS: '1' });

  it('an unowned object younger than the grace period is left alone, and not counted', async () => {
    const key = `assets/${uuidv7()}/${uuidv7()}`;
    await graceful.s3.send(new PutObjectCommand({ Bucket: graceful.config.s3.bucket, Key: key, Body: bytesOf(64) }));
    const started = await call(`${graceful.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { sample_percent: 100 }, headers: { Prefer: 'wait=60' } });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ status: 'completed', counts: NONE, objects_listed: 1 });
    expect(await graceful.s3.send(new HeadObjectCommand({ Bucket: graceful.config.s3.bucket, Key: key }))).toMatchObject({ ContentLength: 64 });
  }, 120_000);
});

it("a damaged version's own remedy works: a restore of a backup that holds its bytes (overwrite, or missing for a lost object) serves them again", async () => {
  const flippedOne = await upload(2600);
  const lostOne = await upload(2700);
  const backup = await runBackup(ctx);
  expect(backup.status).toBe('completed');
  // The backup's blobs are unreadable while the scrub runs (an outage of the offsite copy, say): nothing to repair from.
  const blobs = [flippedOne, lostOne].map((u) => ({ key: blobKeyFor(sha256(u.bytes)), bytes: u.bytes }));
  for (const b of blobs) await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: b.key }));
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: flippedOne.key, Body: flipped(flippedOne.bytes) }));
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: lostOne.key }));
  const found = await scrub({ sample_percent: 100 });
  expect(found).toMatchObject({ counts: { checksum_mismatch: 1, missing_object: 1 }, unrepairable: expect.any(Number) });
  for (const u of [flippedOne, lostOne]) expectProblem(await call(`${ctx.baseUrl}/api/v2/assets/${u.id}/content`), 409);

  // The blobs are back; the admin does what the 409 says: restores the assets from that backup.
  for (const b of blobs) await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: b.key, Body: b.bytes }));
  for (const [u, mode] of [
    [flippedOne, 'overwrite'],
    [lostOne, 'missing'],
  ] as const) {
    const started = await call(`${ctx.baseUrl}/api/v2/backups/${backup.id}/restore`, { method: 'POST', json: { asset_ids: [u.id], mode, dry_run: false } });
    expect(started.status).toBe(202);
    await settled(ctx, started.body.workflow_id);
    expect((await call(`${ctx.baseUrl}/api/v2/restores/${started.body.id}`)).body).toMatchObject({ status: 'completed', progress: { assets_restored: 1 } });
    const content = await download(`${ctx.baseUrl}/api/v2/assets/${u.id}/content`);
    expect({ mode, status: content.status, sha256: sha256(content.body) }).toEqual({ mode, status: 200, sha256: sha256(u.bytes) });
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${u.id}/versions/${u.versionId}`)).body).toMatchObject({ damaged_at: null, damage: null });
  }
}, 300_000);

it('a version marked damaged is not copied into a new version: its restore is a 409 version-damaged at once, opening no upload', async () => {
  const first = await upload(2800);
  expect((await addVersion(ctx.baseUrl, first.id, bytesOf(2900))).status).toBe(201);
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: first.key, Body: flipped(first.bytes) }));
  expect(await scrub({ sample_percent: 100 })).toMatchObject({ counts: { checksum_mismatch: 1 }, unrepairable: 1 });
  const sessions = await ctx.db('upload_sessions').count('* as n');

  const res = await call(`${ctx.baseUrl}/api/v2/assets/${first.id}/versions/${first.versionId}/restore`, { method: 'POST' });
  expectProblem(res, 409);
  expect(res.body).toMatchObject({ type: '/problems/version-damaged', version_id: first.versionId });
  expect(await ctx.db('upload_sessions').count('* as n')).toEqual(sessions);
  expect(await ctx.db('asset_versions').where({ asset_id: first.id }).pluck('version_number')).toHaveLength(2);
}, 120_000);

it('one scrub at a time: a start while one runs is a 409 naming it (its byte budget is per run), and starts nothing; once it ended, a start is taken', async () => {
  // A scrub whose run is held: started on a task queue no worker polls.
  const id = await insertScrub(ctx.db, { dryRun: false, samplePercent: 25, trigger: 'schedule', actor: TEST_ADMIN });
  const held = await ctx.temporal.client.workflow.start('scrubWorkflow', {
    workflowId: scrubWorkflowId(id),
    taskQueue: `nobody-polls-${uuidv7()}`,
    args: [{ scrubId: id, actor: TEST_ADMIN }],
  });
  try {
    for (const json of [{}, { dry_run: true }]) {
      const refused = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json });
      expectProblem(refused, 409);
      expect(refused.body.detail).toContain(id);
    }
    expect(await ctx.db('scrubs').pluck('id')).toEqual([id]);
  } finally {
    await held.terminate('test over');
  }
  const taken = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { dry_run: true }, headers: { Prefer: 'wait=60' } });
  expect(taken.status).toBe(200);
  expect((await call(`${ctx.baseUrl}/api/v2/scrubs/${id}`)).body).toMatchObject({ status: 'failed' });
}, 120_000);

it("a retained backup's manifest gone or cut short is a finding (backup_manifest_unreadable), not a scrub retried until it fails", async () => {
  await upload(1200);
  const gone = await runBackup(ctx);
  const short = await runBackup(ctx);
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: gone.manifest_key! }));
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: short.manifest_key!, Body: '{"type":"header"}\n' }));
  const res = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { dry_run: true }, headers: { Prefer: 'wait=30' } });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'completed', counts: { ...NONE, backup_manifest_unreadable: 2 } });
  const findings = (await call(`${ctx.baseUrl}/api/v2/scrubs/${res.body.id}/findings?kind=backup_manifest_unreadable`)).body.items;
  expect(findings.map((f: any) => f.subject).sort()).toEqual([gone.id, short.id].sort());
  expect(findings.map((f: any) => f.detail).join(' ')).toMatch(/missing.*shorter|shorter.*missing/);
}, 120_000);
