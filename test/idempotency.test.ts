/**
 * Issue 26, "Idempotent writes" (and finding 14): an upload answered 500, or whose connection dropped,
 * was stored all the same, and a client that tried again made a second asset. A change sent with an
 * Idempotency-Key is carried out once (api/middleware/idempotency.ts): the same key again answers the
 * first answer, or the outcome of the upload the first attempt committed; and a commit that succeeded
 * is never answered as a failure, even when the catalog cannot be read back right after it.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buildApp } from '../api/app';
import { KEY_LEASE_SECONDS } from '../api/middleware/idempotency';
import { claimKey, recordKeyUpload } from '../lib/idempotency/store';
import { createServiceDb } from '../lib/platform/db';
import { createS3Client } from '../lib/platform/s3Client';
import { uuidv7 } from '../lib/platform/ids';
import { newUploadInput } from '../lib/uploads/input';
import { markOpenSessionCompleting } from '../lib/uploads/store';
import { abortUploadSession, completeStartedUpload, openUploadSession } from '../lib/uploads/uploadRuns';
import { stageToS3, type StagedObject } from '../lib/platform/staging';
import type { UploadInput } from '../workflows/uploads/definitions';
import { bytesOf, sha256 } from './support/assets';
import { adminToken, TEST_ADMIN, tokenFor } from './support/auth';
import { cliEnv, storage } from './support/cli';
import { serve, useTestService } from './support/context';
import { call, expectProblem, inPieces, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { startTcpProxy } from './support/tcpProxy';

const ctx = useTestService();

/** A fresh key, in the draft's form (a quoted string); `rawKey` is what the row keeps. */
function newKey(): { header: string; raw: string } {
  const raw = `k-${uuidv7()}`;
  return { header: `"${raw}"`, raw };
}

function formOf(file: Buffer, name: string): FormData {
  const form = new FormData();
  form.append('name', name);
  form.append('checksum_sha256', sha256(file));
  form.append('file', new Blob([file]), name);
  return form;
}

function upload(file: Buffer, name: string, key: string | undefined, opts: { as?: string; baseUrl?: string } = {}): Promise<JsonAnswer> {
  return call(`${opts.baseUrl ?? ctx.baseUrl}/api/v2/assets/upload`, {
    method: 'POST',
    body: formOf(file, name),
    as: opts.as,
    headers: key === undefined ? {} : { 'idempotency-key': key },
  });
}

async function assetsNamed(name: string): Promise<string[]> {
  return (await ctx.db('assets').where({ name }).select('id')).map((row: { id: string }) => row.id);
}

/** Sends the request again while the first still runs (409 with Retry-After), within a bound. */
async function untilSettled(send: () => Promise<JsonAnswer>, timeoutMs?: number, everyMs?: number): Promise<JsonAnswer> {
  return waitUntil(
    'an answer other than "still in progress"',
    async () => {
      const answer = await send();
      if (answer.status !== 409) return answer;
      expect(answer.headers.get('retry-after')).toBe('1');
      return undefined;
    },
    timeoutMs,
    everyMs,
  );
}

/** An upload's request as bytes, to be sent piece by piece (inPieces). */
async function uploadInPieces(file: Buffer, name: string, key: string, baseUrl = ctx.baseUrl) {
  const request = new Request(`${baseUrl}/api/v2/assets/upload`, { method: 'POST', body: formOf(file, name) });
  const body = Buffer.from(await request.arrayBuffer());
  const sending = inPieces(`${baseUrl}/api/v2/assets/upload`, 'POST', {
    authorization: `Bearer ${await adminToken()}`,
    'content-type': request.headers.get('content-type')!,
    'content-length': String(body.length),
    'idempotency-key': key,
  });
  return { body, sending };
}

function keyRow(key: { raw: string }) {
  return ctx.db('idempotency_keys').where({ key: key.raw }).first();
}

it('the same upload sent twice with one key makes one asset; the second answer is the first, marked replayed', async () => {
  const name = `same-key-${uuidv7()}.bin`;
  const file = bytesOf(10_000);
  const key = newKey();
  const first = await upload(file, name, key.header);
  expect(first.status).toBe(201);
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  const second = await upload(file, name, key.header);
  expect(second.status).toBe(201);
  expect(second.headers.get('idempotent-replayed')).toBe('true');
  expect(second.body).toEqual(first.body);
  expect(second.headers.get('location')).toBe(first.headers.get('location'));
  expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
  expect(await assetsNamed(name)).toEqual([first.body.id]);
});

it('an upload whose client dropped the connection after sending it, sent again with its key, is the one asset', async () => {
  const name = `dropped-${uuidv7()}.bin`;
  const file = bytesOf(4 * 1024 * 1024);
  const key = newKey();
  const request = new Request(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: formOf(file, name) });
  const body = Buffer.from(await request.arrayBuffer());
  const sent = http.request(`${ctx.baseUrl}/api/v2/assets/upload`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor({ sub: 'test-admin', roles: ['storage:admin'] })}`,
      'content-type': request.headers.get('content-type')!,
      'content-length': String(body.length),
      'idempotency-key': key.header,
    },
  });
  sent.on('error', () => {});
  sent.end(body);
  // The client goes once its upload has opened, without reading any answer.
  await waitUntil('the upload to open', () => ctx.db('idempotency_keys').where({ key: key.raw }).whereNotNull('upload_id').first());
  sent.destroy();

  const retried = await untilSettled(() => upload(file, name, key.header));
  expect(retried.status).toBe(201);
  expect(await assetsNamed(name)).toEqual([retried.body.id]);
  expect(retried.body.checksum_sha256).toBe(sha256(file));
});

it('a new version and a version restore sent twice with their keys each make one version', async () => {
  const created = await upload(bytesOf(100), `versions-${uuidv7()}.bin`, undefined);
  const versions = `${ctx.baseUrl}/api/v2/assets/${created.body.id}/versions`;
  const sendVersion = (key: string) => call(versions, { method: 'POST', body: formOf(bytesOf(200), 'v2.bin'), headers: { 'idempotency-key': key } });
  const versionKey = newKey();
  const [first, second] = [await sendVersion(versionKey.header), await sendVersion(versionKey.header)];
  expect([first.status, second.status, second.headers.get('idempotent-replayed')]).toEqual([201, 201, 'true']);
  expect(second.body.id).toBe(first.body.id);
  const restoreKey = newKey();
  const restore = () => call(`${versions}/${created.body.current_version_id}/restore`, { method: 'POST', headers: { 'idempotency-key': restoreKey.header } });
  const [restored, again] = [await restore(), await restore()];
  expect([restored.status, again.status, again.body.id]).toEqual([201, 201, restored.body.id]);
  expect(await ctx.db('asset_versions').where({ asset_id: created.body.id }).count({ n: '*' })).toEqual([{ n: 3 }]);
});

it('two uploads sent at once with one key make one asset: the other is told to wait (409) or given the same answer', async () => {
  const name = `concurrent-${uuidv7()}.bin`;
  const file = bytesOf(1024 * 1024);
  const key = newKey();
  const answers = await Promise.all([upload(file, name, key.header), upload(file, name, key.header)]);
  const statuses = answers.map((a) => a.status).sort();
  expect([
    [201, 201],
    [201, 409],
  ]).toContainEqual(statuses);
  for (const answer of answers.filter((a) => a.status === 409)) {
    expectProblem(answer, 409);
    expect(answer.headers.get('retry-after')).toBe('1');
  }
  const made = answers.filter((a) => a.status === 201).map((a) => a.body.id);
  expect(new Set(made).size).toBe(1);
  expect(await assetsNamed(name)).toEqual([made[0]]);
  // Once the first is done, the key answers it.
  const again = await upload(file, name, key.header);
  expect({ status: again.status, id: again.body.id, replayed: again.headers.get('idempotent-replayed') }).toEqual({
    status: 201,
    id: made[0],
    replayed: 'true',
  });
});

it('another request under a key already used is 422, and changes nothing', async () => {
  const created = await upload(bytesOf(100), `changed-${uuidv7()}.bin`, undefined);
  expect(created.status).toBe(201);
  const url = `${ctx.baseUrl}/api/v2/assets/${created.body.id}`;
  const key = newKey();
  const renamed = await call(url, { method: 'PUT', json: { name: 'first-name.bin' }, headers: { 'idempotency-key': key.header } });
  expect(renamed.status).toBe(200);
  const other = await call(url, { method: 'PUT', json: { name: 'second-name.bin' }, headers: { 'idempotency-key': key.header } });
  expectProblem(other, 422);
  expect((await call(url)).body.name).toBe('first-name.bin');
  const same = await call(url, { method: 'PUT', json: { name: 'first-name.bin' }, headers: { 'idempotency-key': key.header } });
  expect({ status: same.status, replayed: same.headers.get('idempotent-replayed'), body: same.body }).toEqual({
    status: 200,
    replayed: 'true',
    body: renamed.body,
  });
});

it('a malformed key is 400, and nothing is uploaded', async () => {
  const name = `bad-key-${uuidv7()}.bin`;
  for (const bad of ['x'.repeat(256), '""', '"unterminated']) {
    expectProblem(await upload(bytesOf(100), name, bad), 400);
  }
  expect(await assetsNamed(name)).toEqual([]);
  // 255 characters is a key.
  expect((await upload(bytesOf(100), name, 'y'.repeat(255))).status).toBe(201);
});

it("a key is its caller's: another caller's same key is a key of its own", async () => {
  const name = `two-callers-${uuidv7()}.bin`;
  const key = newKey();
  const [alice, bob] = await Promise.all([tokenFor({ sub: `alice-${uuidv7()}`, roles: [] }), tokenFor({ sub: `bob-${uuidv7()}`, roles: [] })]);
  const ofAlice = await upload(bytesOf(100), name, key.header, { as: alice });
  const ofBob = await upload(bytesOf(100), name, key.header, { as: bob });
  expect([ofAlice.status, ofBob.status]).toEqual([201, 201]);
  expect(ofBob.headers.get('idempotent-replayed')).toBeNull();
  expect(ofBob.body.id).not.toBe(ofAlice.body.id);
  expect((await upload(bytesOf(100), name, key.header, { as: alice })).body.id).toBe(ofAlice.body.id);
  expect((await assetsNamed(name)).sort()).toEqual([ofAlice.body.id, ofBob.body.id].sort());
});

it('a key older than 24 hours is as if never sent: the request runs anew', async () => {
  const name = `expired-${uuidv7()}.bin`;
  const key = newKey();
  const first = await upload(bytesOf(100), name, key.header);
  expect(first.status).toBe(201);
  await ctx
    .db('idempotency_keys')
    .where({ key: key.raw })
    .update({ created_at: ctx.db.raw("now() - interval '25 hours'") });
  const second = await upload(bytesOf(100), name, key.header);
  expect(second.status).toBe(201);
  expect(second.headers.get('idempotent-replayed')).toBeNull();
  expect((await assetsNamed(name)).sort()).toEqual([first.body.id, second.body.id].sort());
});

/** An API of its own whose database connections pass through a proxy (its worker keeps its own connections). */
async function apiBehindDatabaseProxy() {
  const target = new URL(ctx.config.database.url);
  const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const db = createServiceDb({ ...ctx.config.database, url: proxied.toString() });
  const api = await serve(buildApp({ config: ctx.config, db, s3: ctx.s3, temporal: ctx.temporal, logger: ctx.logger }));
  return {
    proxy,
    baseUrl: api.baseUrl,
    close: async () => {
      await api.close();
      await db.destroy();
      await proxy.close();
    },
  };
}

it('a commit whose asset cannot be read back is 503 with its upload_id, never a failure; the same key then answers the committed asset', async () => {
  // The database goes down as the API reads the new asset back, after the worker committed it.
  const { proxy, baseUrl, close } = await apiBehindDatabaseProxy();
  try {
    const name = `read-back-${uuidv7()}.bin`;
    const file = bytesOf(10_000);
    const key = newKey();
    // The read of an asset with its metadata (lib/assets/store.ts, selectAssets): the upload reads none before.
    proxy.downOnRequest(/^P[\s\S]*select "a"\.\*, COALESCE\(\(SELECT jsonb_object_agg/);
    const failed = await upload(file, name, key.header, { baseUrl });
    expectProblem(failed, 503);
    expect(failed.headers.get('retry-after')).toBe('2');
    expect(failed.body.upload_id).toEqual(expect.any(String));
    const session = await ctx.db('upload_sessions').where({ id: failed.body.upload_id }).first();
    expect(session.status).toBe('completed');

    proxy.up();
    const retried = await upload(file, name, key.header, { baseUrl });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBe('true');
    expect(retried.body.id).toBe(session.result_asset_id);
    expect(await assetsNamed(name)).toEqual([session.result_asset_id]);
  } finally {
    await close();
  }
});

it('a change answered with a 5xx is not kept: once the database is back, the same key carries it out', async () => {
  const created = await upload(bytesOf(100), `blink-${uuidv7()}.bin`, undefined);
  const { proxy, baseUrl, close } = await apiBehindDatabaseProxy();
  try {
    const key = newKey();
    const rename = () =>
      call(`${baseUrl}/api/v2/assets/${created.body.id}`, { method: 'PUT', json: { name: 'renamed.bin' }, headers: { 'idempotency-key': key.header } });
    // Down as the API writes the new name: the key's release cannot be written either, until it is back.
    proxy.downOnRequest(/^P[\s\S]*update "assets" set/);
    const failed = await rename();
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect((await ctx.db('assets').where({ id: created.body.id }).first()).name).toBe(created.body.name);

    proxy.up();
    const retried = await untilSettled(rename);
    expect({ status: retried.status, replayed: retried.headers.get('idempotent-replayed'), name: retried.body.name }).toEqual({
      status: 200,
      replayed: null,
      name: 'renamed.bin',
    });
  } finally {
    await close();
  }
});

it('the CLI sends its upload again after the connection dropped as the answer began, with the same key: one asset', async () => {
  // In front of the API: the connection is reset as the first byte of the answer comes (the upload is
  // committed by then), and new ones are refused until the test lets them through.
  const proxy = await startTcpProxy(Number(new URL(ctx.baseUrl).port));
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-idempotency-'));
    const file = path.join(dir, `cli-${uuidv7()}.bin`);
    const bytes = bytesOf(300_000);
    fs.writeFileSync(file, bytes);
    proxy.cutAfter(0);
    const run = storage(cliEnv(`http://127.0.0.1:${proxy.port}`, await adminToken()), ['upload', file, '--json']);
    await waitUntil('a retry to be refused', async () => proxy.refused > 0);
    proxy.up();
    const done = await run;
    expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('the connection failed before an answer') });
    expect(done.json()).toMatchObject({ method: 'simple', asset: { checksum_sha256: sha256(bytes) } });
    expect(await assetsNamed(path.basename(file))).toEqual([done.json().asset.id]);
  } finally {
    await proxy.close();
  }
});

it('a key held by an attempt whose API died is taken over by a retry within the short lease, and the upload is stored once', async () => {
  const { proxy, baseUrl, close } = await apiBehindDatabaseProxy();
  try {
    const name = `dead-attempt-${uuidv7()}.bin`;
    const file = bytesOf(64 * 1024);
    const key = newKey();
    const { body, sending } = await uploadInPieces(file, name, key.header, baseUrl);
    await sending.write(body.subarray(0, body.length / 2));
    await waitUntil('the first attempt to open its upload', async () => (await keyRow(key))?.upload_id);
    // Its API dies mid-request: it renews nothing, releases nothing, answers nothing.
    proxy.down();
    sending.leave();

    // The client tries again as told (Retry-After: 1): the key is free once the dead attempt's lease passes.
    const retried = await untilSettled(() => upload(file, name, key.header), (KEY_LEASE_SECONDS + 15) * 1000, 1000);
    expect({ status: retried.status, replayed: retried.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: null });
    expect(retried.body.checksum_sha256).toBe(sha256(file));
    expect(await assetsNamed(name)).toEqual([retried.body.id]);
  } finally {
    await close();
  }
}, 90_000);

it('a live attempt whose request outlasts the lease keeps renewing it: a retry meanwhile is told to wait (409), and one asset is made', async () => {
  const name = `slow-attempt-${uuidv7()}.bin`;
  const file = bytesOf(64 * 1024);
  const key = newKey();
  const { body, sending } = await uploadInPieces(file, name, key.header);
  let sent = body.length / 2;
  await sending.write(body.subarray(0, sent));
  const opened = await waitUntil('the upload to open', async () => {
    const row = await keyRow(key);
    return row?.upload_id ? row : undefined;
  });
  // A slow client: a few bytes a second, until the lease the key was claimed with has passed.
  await waitUntil(
    'the lease the key was claimed with to have passed',
    async () => {
      const passed = (await ctx.db.raw('SELECT now() > ? AS passed', [opened.lease_until])).rows[0].passed;
      if (!passed) {
        await sending.write(body.subarray(sent, sent + 100));
        sent += 100;
      }
      return passed;
    },
    (KEY_LEASE_SECONDS + 15) * 1000,
    1000,
  );
  expect((await keyRow(key)).lease_until.getTime()).toBeGreaterThan(opened.lease_until.getTime());

  const meanwhile = await upload(file, name, key.header);
  expectProblem(meanwhile, 409);
  expect(meanwhile.headers.get('retry-after')).toBe('1');

  const answered = await sending.end(body.subarray(sent));
  expect(answered.status).toBe(201);
  expect(await assetsNamed(name)).toEqual([answered.body.id]);
  const again = await upload(file, name, key.header);
  expect({ status: again.status, id: again.body.id, replayed: again.headers.get('idempotent-replayed') }).toEqual({
    status: 201,
    id: answered.body.id,
    replayed: 'true',
  });
}, 90_000);

const uploadsOf = () => ({ client: ctx.temporal.client, taskQueue: ctx.config.temporal.taskQueue, db: ctx.db });

/**
 * What an API killed mid-upload leaves: a key claimed by an attempt that renews nothing (its lease
 * passed), with the simple upload it opened recorded on it; `leftAs` brings that upload where it was.
 */
async function keyOfDeadAttempt(name: string, leftAs: (input: UploadInput) => Promise<unknown>) {
  // Every form upload to this path that declares no checksum header has the same fingerprint: a first one tells it.
  const probe = newKey();
  expect((await upload(bytesOf(100), `probe-${uuidv7()}.bin`, probe.header)).status).toBe(201);
  const { fingerprint } = await keyRow(probe);
  const input = newUploadInput(ctx.config, { kind: 'simple', name, contentType: 'application/octet-stream' }, undefined, TEST_ADMIN.sub);
  await openUploadSession(uploadsOf(), TEST_ADMIN, input);
  await leftAs(input);
  const key = newKey();
  const dead = { subject: TEST_ADMIN.sub, key: key.raw, fingerprint, attempt: uuidv7(), leaseSeconds: 0 };
  expect((await claimKey(ctx.db, dead)).claimed).toBe(true);
  await recordKeyUpload(ctx.db, dead.subject, dead.key, dead.attempt, input.uploadId);
  return { key, input };
}

it('a retry that finds the upload its dead attempt was committing ended without a version runs anew: not a 404, one asset', async () => {
  const name = `ended-upload-${uuidv7()}.bin`;
  const file = bytesOf(10_000);
  // What an API killed while its upload was committing leaves: the upload's session completing.
  const { key, input } = await keyOfDeadAttempt(name, (opened) => markOpenSessionCompleting(ctx.db, opened.uploadId, { status: 'completing' }));

  // The commit ends without a version (the run aborted, the simple upload's row deleted) just as the
  // retry has found it under way: as the API's first read of the session returns (the API queries
  // through ctx.db), the run is told to abort, so the retry's wait for its outcome finds it gone.
  let ended: Promise<void> | undefined;
  const onRead = (_response: unknown, query: { sql: string; bindings?: unknown[] }) => {
    if (!ended && /from "upload_sessions"/.test(query.sql) && query.bindings?.includes(input.uploadId)) {
      ended = abortUploadSession(uploadsOf(), input.uploadId, 15_000);
    }
  };
  ctx.db.on('query-response', onRead);
  let retried: JsonAnswer;
  try {
    retried = await upload(file, name, key.header);
  } finally {
    ctx.db.off('query-response', onRead);
  }
  await ended;
  expect(await ctx.db('upload_sessions').where({ id: input.uploadId }).first()).toBeUndefined();
  expect({ status: retried.status, replayed: retried.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: null });
  expect(retried.body.checksum_sha256).toBe(sha256(file));
  expect(await assetsNamed(name)).toEqual([retried.body.id]);
  // The key now answers that asset.
  expect((await upload(file, name, key.header)).body.id).toBe(retried.body.id);
});

it("a retry that takes over a dead attempt's key ends that attempt's upload first: a `complete` the dead API sent, arriving late, commits nothing beside the retry's", async () => {
  const name = `late-complete-${uuidv7()}.bin`;
  const file = bytesOf(10_000);
  // What an API killed after staging its upload leaves: its session open and its bytes staged; its `complete` not yet taken.
  let staged: StagedObject | undefined;
  const { key, input } = await keyOfDeadAttempt(name, async (opened) => {
    staged = await stageToS3(ctx.s3, ctx.config.s3.bucket, opened.objectKey, Readable.from([file]), ctx.config.uploads.maxSizeBytes);
  });

  const retried = await upload(file, name, key.header);
  expect(retried.status).toBe(201);
  // The dead API's `complete`, delivered only now (as a run's backlog would): the run has ended, so it is refused.
  const late = await completeStartedUpload(
    uploadsOf(),
    input.uploadId,
    { ...staged!, oneStep: true, details: { name, contentType: 'application/octet-stream' } },
    15_000,
    Date.now() + 15_000,
  ).catch((err: Error) => err);
  expect(late).toBeInstanceOf(Error);
  expect(await assetsNamed(name)).toEqual([retried.body.id]);
});

/** An API whose S3 goes through a proxy the test can stall; `putSent` tells once it has sent a PutObject. */
async function apiWithStallableStore() {
  const s3Proxy = await startTcpProxy(Number(new URL(ctx.config.s3.endpoint!).port));
  const s3 = createS3Client({ ...ctx.config.s3, endpoint: `http://127.0.0.1:${s3Proxy.port}` });
  let put = false;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PutObjectCommand') put = true;
      return next(args);
    },
    { step: 'initialize' },
  );
  const api = await serve(buildApp({ config: ctx.config, db: ctx.db, s3, temporal: ctx.temporal, logger: ctx.logger }));
  return { s3Proxy, api, putSent: () => put };
}

it('a simple upload whose session ended before its commit was taken is 503 (send it again), not 404; sent again with its key, it is stored once', async () => {
  // The API's store stalls as it puts the staged bytes; meanwhile the run ends the session.
  const { s3Proxy, api, putSent } = await apiWithStallableStore();
  try {
    const name = `ended-under-it-${uuidv7()}.bin`;
    const file = bytesOf(64 * 1024);
    const key = newKey();
    s3Proxy.stall();
    const first = upload(file, name, key.header, { baseUrl: api.baseUrl });
    await waitUntil('the API to put the staged bytes', async () => putSent());
    // As a stall check that found it idle while its commit waited for a busy worker would: the run
    // ends the session, and deletes the simple upload's row.
    await abortUploadSession(uploadsOf(), (await keyRow(key)).upload_id!, 15_000);
    s3Proxy.down();
    s3Proxy.up();
    const answer = await first;
    expect({ status: answer.status, retryAfter: answer.headers.get('retry-after'), assets: await assetsNamed(name) }).toEqual({
      status: 503,
      retryAfter: '1',
      assets: [],
    });
    expect(answer.body.detail).toMatch(/send it again/);

    const again = await upload(file, name, key.header, { baseUrl: api.baseUrl });
    expect(again.status).toBe(201);
    expect(await assetsNamed(name)).toEqual([again.body.id]);
  } finally {
    s3Proxy.up();
    await api.close();
    await s3Proxy.close();
  }
}, 120_000);

it('a client that drops its connection once its body arrived, while its API still stages it: a retry past the lease is told to wait (409), and one asset is made', async () => {
  // The API's store stalls as it puts the staged bytes: the attempt lives on after its client left.
  const { s3Proxy, api, putSent } = await apiWithStallableStore();
  try {
    const name = `left-attempt-${uuidv7()}.bin`;
    const file = bytesOf(64 * 1024);
    const key = newKey();
    s3Proxy.stall();
    const { body, sending } = await uploadInPieces(file, name, key.header, api.baseUrl);
    await sending.write(body);
    await waitUntil('the API to put the staged bytes', async () => putSent());
    // The client gives up (its own timeout) with its whole body sent; its API still holds the upload.
    sending.leave();
    const left = await keyRow(key);
    await waitUntil(
      'the lease held as the client left to have passed',
      async () => (await ctx.db.raw('SELECT now() > ? AS passed', [left.lease_until])).rows[0].passed,
      (KEY_LEASE_SECONDS + 15) * 1000,
      1000,
    );

    const meanwhile = await upload(file, name, key.header);
    expect({ status: meanwhile.status, assets: await assetsNamed(name) }).toEqual({ status: 409, assets: [] });

    // The store answers again (the stalled connection reset, the put sent anew): the first attempt commits.
    s3Proxy.down();
    s3Proxy.up();
    const retried = await untilSettled(() => upload(file, name, key.header), 60_000, 1000);
    expect({ status: retried.status, replayed: retried.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: 'true' });
    expect(await assetsNamed(name)).toEqual([retried.body.id]);
  } finally {
    s3Proxy.up();
    await api.close();
    await s3Proxy.close();
  }
}, 120_000);
