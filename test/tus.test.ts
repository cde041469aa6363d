/**
 * tus 1.0.0 at /api/v2/tus, driven by tus-js-client 4 as a browser or an app would drive it: each
 * upload is an uploadWorkflow run whose status /api/v2/uploads/{id} also shows, and once it has
 * ended, in any way, the bucket holds nothing of it but the version it made.
 */
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { request } from 'node:http';
import * as tus from 'tus-js-client';
import { freePorts } from '../scripts/stack';
import { adminToken, tokenFor } from './support/auth';
import { objectKeys } from './support/catalog';
import { openMultipartKeys } from './support/chunked';
import { useTestService } from './support/context';
import { call } from './support/http';
import { envFor, spawnService, waitUntil } from './support/processes';

const MiB = 1024 * 1024;
const CHUNK = 8 * MiB;
const ORIGIN = 'http://app.test';

let dir: string;
let alice: string;
let bob: string;
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});
const ctx = useTestService({ STORAGE_CORS_ORIGINS: ORIGIN });
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tus-test-'));
  alice = await tokenFor({ sub: 'alice' });
  bob = await tokenFor({ sub: 'bob' });
});

/** A file of `size` bytes written 1 MiB at a time (never whole in memory), and its SHA-256. */
async function makeFile(size: number, seed = 'tus'): Promise<{ path: string; size: number; sha256: string }> {
  const file = path.join(dir, `${seed}-${size}.bin`);
  const out = createWriteStream(file);
  const whole = createHash('sha256');
  for (let written = 0, i = 0; written < size; i++) {
    const block = Buffer.alloc(Math.min(MiB, size - written));
    for (let at = 0; at < block.length; at += 32) createHash('sha256').update(`${seed}:${i}:${at}`).digest().copy(block, at);
    whole.update(block);
    if (!out.write(block)) await once(out, 'drain');
    written += block.length;
  }
  out.end();
  await once(out, 'finish');
  return { path: file, size, sha256: whole.digest('hex') };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

interface UploadOptions {
  token?: string | null;
  metadata?: Record<string, string>;
  endpoint?: string;
  uploadUrl?: string;
  onUpload?: (upload: tus.Upload) => void;
  onProgress?: (sent: number) => void;
  onBeforeRequest?: (req: tus.HttpRequest) => void;
}

function tusUpload(file: { path: string; size: number }, opts: UploadOptions = {}): tus.Upload {
  return new tus.Upload(createReadStream(file.path), {
    endpoint: opts.uploadUrl ? undefined : (opts.endpoint ?? `${ctx.baseUrl}/api/v2/tus`),
    uploadUrl: opts.uploadUrl,
    chunkSize: CHUNK,
    uploadSize: file.size,
    retryDelays: [],
    headers: opts.token === null ? {} : { Authorization: `Bearer ${opts.token ?? alice}` },
    metadata: { filename: 'map.bin', filetype: 'application/octet-stream', ...opts.metadata },
    onProgress: opts.onProgress,
    onBeforeRequest: opts.onBeforeRequest,
  });
}

/** Runs an upload to its end: the upload on success, its error (with the last answer) otherwise. */
function run(upload: tus.Upload): Promise<{ ok: true; upload: tus.Upload } | { ok: false; error: tus.DetailedError }> {
  return new Promise((resolve) => {
    upload.options.onSuccess = () => resolve({ ok: true, upload });
    upload.options.onError = (error) => resolve({ ok: false, error: error as tus.DetailedError });
    upload.start();
  });
}

const idOf = (url: string) => url.split('/').pop()!;

/** Every object and every open multipart upload in the file's bucket. */
async function bucketContents() {
  return { objects: await objectKeys(ctx, ''), multipart: await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, '') };
}

async function downloadedSha256(assetId: string, token = alice): Promise<string> {
  const res = await fetch(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const hash = createHash('sha256');
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}

function tusHeaders(token: string | null = alice, more: Record<string, string> = {}): Record<string, string> {
  return { 'tus-resumable': '1.0.0', ...(token ? { authorization: `Bearer ${token}` } : {}), ...more };
}

function head(url: string, token: string | null = alice) {
  return fetch(url, { method: 'HEAD', headers: tusHeaders(token) });
}

async function create(size: number, metadata = `filename ${b64('notes.txt')}`, token: string | null = alice) {
  return fetch(`${ctx.baseUrl}/api/v2/tus`, { method: 'POST', headers: tusHeaders(token, { 'upload-length': String(size), 'upload-metadata': metadata }) });
}

function patch(url: string, offset: number, body: Buffer, more: Record<string, string> = {}, token: string | null = alice) {
  return fetch(url, {
    method: 'PATCH',
    headers: tusHeaders(token, { 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...more }),
    body,
  });
}

const sha256Base64 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('base64');

/** The activities an upload's run scheduled on the server (its short catalog steps run locally, and are not among them). */
async function scheduledActivities(uploadId: string): Promise<string[]> {
  const history = await ctx.temporal.client.workflow.getHandle(`upload-${uploadId}`).fetchHistory();
  return history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

it('uploads 64 MiB in 8 MiB PATCHes into a version whose downloaded bytes hash the same; nothing else stays in the bucket', async () => {
  const file = await makeFile(64 * MiB);
  const patches: string[] = [];
  const result = await run(
    tusUpload(file, {
      metadata: { checksum_sha256: file.sha256, metadata: JSON.stringify({ campaign: 'Rime' }), tags: JSON.stringify(['map', 'tus']) },
      onBeforeRequest: (req) => {
        if (req.getMethod() === 'PATCH') patches.push(req.getHeader('Upload-Offset') ?? '');
      },
    }),
  );
  expect(result.ok).toBe(true);
  const url = (result as { upload: tus.Upload }).upload.url!;
  expect(patches).toEqual(Array.from({ length: 8 }, (_, i) => String(i * CHUNK)));

  const status = await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: alice });
  expect(status.body).toMatchObject({ status: 'completed', size_bytes: file.size, checksum_sha256: file.sha256, bytes_received: file.size });
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${status.body.asset_id}`, { as: alice });
  expect(asset.body).toMatchObject({ name: 'map.bin', owner_id: 'alice', size_bytes: file.size, checksum_sha256: file.sha256, metadata: { campaign: 'Rime' } });
  expect([...asset.body.tags].sort()).toEqual(['map', 'tus']);
  expect(await downloadedSha256(status.body.asset_id)).toBe(file.sha256);
  // One run: the upload workflow's, for alice. Hashed as the bytes streamed in: no read-back.
  const description = await ctx.temporal.client.workflow.getHandle(`upload-${idOf(url)}`).describe();
  expect(Object.fromEntries(description.typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]))).toMatchObject({
    StorageOperation: 'upload',
    StorageActor: 'alice',
  });
  expect(await scheduledActivities(idOf(url))).toEqual(['assembleParts']);

  // Finished: HEAD reports every byte, and the bucket holds the version's object alone.
  const after = await head(url);
  expect(after.status).toBe(200);
  expect(after.headers.get('upload-offset')).toBe(String(file.size));
  const version = await call(`${ctx.baseUrl}/api/v2/assets/${status.body.asset_id}/versions/${status.body.version_id}`, { as: alice });
  expect(version.status).toBe(200);
  const contents = await bucketContents();
  expect(contents.multipart).toEqual([]);
  expect(contents.objects.filter((k) => k.startsWith(`assets/${status.body.asset_id}/`))).toEqual([`assets/${status.body.asset_id}/${status.body.version_id}`]);
  expect(contents.objects.filter((k) => /\.(info|part)$/.test(k))).toEqual([]);
}, 180_000);

it('resumes on a new API process, from the offset HEAD reports, after the first was killed (SIGKILL) while the client sent its third PATCH', async () => {
  const file = await makeFile(40 * MiB, 'killed');
  const [port1, port2] = await freePorts(2);
  const env = (port: number) => envFor(ctx.config, { STORAGE_PORT: String(port) });
  const first = spawnService('api/server.ts', env(port1));
  let second: ReturnType<typeof spawnService> | undefined;
  try {
    const api1 = `http://127.0.0.1:${port1}`;
    await waitUntil('the API to listen', async () => (await fetch(`${api1}/health/live`).catch(() => undefined))?.ok);
    let killing: Promise<void> | undefined;
    const started = await run(
      tusUpload(file, {
        endpoint: `${api1}/api/v2/tus`,
        metadata: { checksum_sha256: file.sha256 },
        // Once the third PATCH's body is on its way: two parts are stored, the third is (most likely) cut off.
        onProgress: (sent) => {
          if (sent > 2 * CHUNK + MiB && !killing) killing = first.kill();
        },
      }),
    );
    await killing;
    expect(started.ok).toBe(false);
    const uploadPath = new URL((started as { error: tus.DetailedError & { originalRequest?: tus.HttpRequest } }).error.originalRequest!.getURL()).pathname;
    expect(uploadPath).toMatch(/^\/api\/v2\/tus\/[0-9a-f-]{36}$/);

    second = spawnService('api/server.ts', env(port2));
    const api2 = `http://127.0.0.1:${port2}`;
    await waitUntil('the new API to listen', async () => (await fetch(`${api2}/health/live`).catch(() => undefined))?.ok);
    const status = await head(`${api2}${uploadPath}`);
    expect(status.status).toBe(200);
    const offset = Number(status.headers.get('upload-offset'));
    // Whole parts only: of the PATCH the kill cut off, nothing counts.
    expect(offset % CHUNK).toBe(0);
    expect(offset).toBeGreaterThanOrEqual(2 * CHUNK);
    expect(offset).toBeLessThan(file.size);
    expect((await call(`${api2}/api/v2/uploads/${idOf(uploadPath)}`, { as: alice })).body).toMatchObject({ status: 'open', bytes_received: offset });

    const patches: string[] = [];
    const resumed = await run(
      tusUpload(file, {
        uploadUrl: `${api2}${uploadPath}`,
        onBeforeRequest: (req) => {
          if (req.getMethod() === 'PATCH') patches.push(req.getHeader('Upload-Offset') ?? '');
        },
      }),
    );
    expect(resumed.ok).toBe(true);
    expect(patches[0]).toBe(String(offset));
    const done = await call(`${api2}/api/v2/uploads/${idOf(uploadPath)}`, { as: alice });
    expect(done.body).toMatchObject({ status: 'completed', checksum_sha256: file.sha256 });
    expect(await downloadedSha256(done.body.asset_id)).toBe(file.sha256);
    // The new process went on with the hash the first one saved at the end of its last part.
    expect(await scheduledActivities(idOf(uploadPath))).toEqual(['assembleParts']);
    expect((await bucketContents()).multipart).toEqual([]);
  } finally {
    await first.kill();
    await second?.kill();
  }
}, 180_000);

it('terminates an upload: its bytes go, and the upload is gone (410)', async () => {
  const before = await bucketContents();
  const file = await makeFile(20 * MiB, 'terminated');
  let upload!: tus.Upload;
  const stopped = new Promise<void>((resolve) => {
    upload = tusUpload(file);
    upload.options.onChunkComplete = () => resolve();
    upload.start();
  });
  await stopped;
  await upload.abort(true);
  const id = idOf(upload.url!);
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${id}`, { as: alice })).body).toMatchObject({ status: 'aborted' });
  expect((await head(upload.url!)).status).toBe(410);
  expect((await patch(upload.url!, CHUNK, Buffer.alloc(10))).status).toBe(410);
  expect(await bucketContents()).toEqual(before);
}, 60_000);

it('refuses a PATCH whose Upload-Checksum does not match (460), keeping none of it; a matching one is stored', async () => {
  const before = await bucketContents();
  const body = Buffer.alloc(MiB, 7);
  const created = await create(body.length);
  expect(created.status).toBe(201);
  expect(created.headers.get('tus-resumable')).toBe('1.0.0');
  expect(created.headers.get('upload-expires')).toBeTruthy();
  const url = new URL(created.headers.get('location')!, ctx.baseUrl).toString();

  const wrong = await patch(url, 0, body, { 'upload-checksum': `sha256 ${sha256Base64(Buffer.from('other'))}` });
  expect(wrong.status).toBe(460);
  expect((await head(url)).headers.get('upload-offset')).toBe('0');
  const session = await ctx
    .db('upload_sessions')
    .where({ id: idOf(url) })
    .first();
  const parts = await ctx.s3.send(new ListPartsCommand({ Bucket: ctx.config.s3.bucket, Key: session.object_key, UploadId: session.s3_upload_id }));
  expect(parts.Parts ?? []).toEqual([]);
  expect((await patch(url, 0, body, { 'upload-checksum': 'md5 AAAA' })).status).toBe(400);

  const right = await patch(url, 0, body, { 'upload-checksum': `sha256 ${sha256Base64(body)}` });
  expect(right.status).toBe(204);
  expect(right.headers.get('upload-offset')).toBe(String(body.length));
  const done = await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: alice });
  expect(done.body).toMatchObject({ status: 'completed', size_bytes: body.length });
  const objects = (await bucketContents()).objects.filter((k) => !before.objects.includes(k));
  expect(objects).toEqual([session.object_key]);
}, 60_000);

it('a whole file that does not hash to its checksum_sha256 is 460 on the last PATCH, and every byte of it is deleted', async () => {
  const before = await bucketContents();
  const file = await makeFile(12 * MiB, 'mismatch');
  const result = await run(tusUpload(file, { metadata: { checksum_sha256: 'e'.repeat(64) } }));
  expect(result.ok).toBe(false);
  const error = (result as { error: tus.DetailedError }).error;
  expect(error.originalResponse?.getStatus()).toBe(460);
  const url = error.originalRequest!.getURL();
  expect((await head(url)).status).toBe(460);
  expect((await patch(url, file.size, Buffer.alloc(0))).status).toBe(460);
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: alice })).body).toMatchObject({
    status: 'failed',
    error: expect.stringMatching(/checksum mismatch/),
  });
  expect(await bucketContents()).toEqual(before);
}, 60_000);

it('refuses an upload over STORAGE_MAX_UPLOAD_SIZE (413), one without a token (401), and another user\u2019s upload (404), changing nothing', async () => {
  const before = await bucketContents();
  const sessions = Number((await ctx.db('upload_sessions').count({ n: '*' }))[0].n);
  const big = await run(tusUpload({ path: '/dev/null', size: ctx.config.uploads.maxSizeBytes + 1 }));
  expect(big.ok).toBe(false);
  expect((big as { error: tus.DetailedError }).error.originalResponse?.getStatus()).toBe(413);
  const anonymous = await run(tusUpload({ path: '/dev/null', size: 10 }, { token: null }));
  expect((anonymous as { error: tus.DetailedError }).error.originalResponse?.getStatus()).toBe(401);
  expect(Number((await ctx.db('upload_sessions').count({ n: '*' }))[0].n)).toBe(sessions);
  expect(await bucketContents()).toEqual(before);

  const created = await create(6 * MiB);
  const url = new URL(created.headers.get('location')!, ctx.baseUrl).toString();
  expect((await head(url, bob)).status).toBe(404);
  expect((await patch(url, 0, Buffer.alloc(6 * MiB), {}, bob)).status).toBe(404);
  expect((await fetch(url, { method: 'DELETE', headers: tusHeaders(bob) })).status).toBe(404);
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: bob })).status).toBe(404);
  expect((await head(url, null)).status).toBe(401);
  expect((await head(url, await adminToken())).status).toBe(200);
  const mine = await head(url);
  expect({ status: mine.status, offset: mine.headers.get('upload-offset') }).toEqual({ status: 200, offset: '0' });
  expect((await fetch(url, { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
}, 60_000);

it('refuses an upload over its owner\u2019s quota (507 quota-exceeded) when it is created, leaving no session and nothing in the bucket', async () => {
  const carol = await tokenFor({ sub: 'carol-tus-quota' });
  const quota = await call(`${ctx.baseUrl}/api/v2/quotas/carol-tus-quota`, { method: 'PUT', json: { bytes: 10 * MiB } });
  expect(quota.status).toBe(200);
  const before = await bucketContents();
  const sessions = Number((await ctx.db('upload_sessions').count({ n: '*' }))[0].n);

  const over = await create(10 * MiB + 1, `filename ${b64('too-big.bin')}`, carol);
  expect(over.status).toBe(507);
  expect(over.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(await over.json()).toMatchObject({ type: '/problems/quota-exceeded', quota: 'bytes', limit: 10 * MiB, owner_id: 'carol-tus-quota' });
  expect(Number((await ctx.db('upload_sessions').count({ n: '*' }))[0].n)).toBe(sessions);
  expect(await bucketContents()).toEqual(before);

  // What fits is taken, through tus-js-client as a client sends it.
  const fits = await run(tusUpload(await makeFile(6 * MiB, 'quota'), { token: carol }));
  expect(fits.ok).toBe(true);
  const usage = await call(`${ctx.baseUrl}/api/v2/usage`, { as: carol });
  expect(usage.body).toMatchObject({ bytes_stored: 6 * MiB, reserved_bytes: 0, assets: 1 });
}, 60_000);

it('creation-with-upload whose first bytes are refused leaves no upload, no row and nothing in the bucket', async () => {
  const dan = await tokenFor({ sub: `dan-tus-${Date.now()}` });
  const before = await bucketContents();
  const rows = async () => Number((await ctx.db('upload_sessions').count({ n: '*' }))[0].n);
  const sessions = await rows();
  const createWith = (body: Buffer, more: Record<string, string>) =>
    fetch(`${ctx.baseUrl}/api/v2/tus`, {
      method: 'POST',
      headers: tusHeaders(dan, { 'upload-metadata': `filename ${b64('refused.bin')}`, 'content-type': 'application/offset+octet-stream', ...more }),
      body,
    });
  const body = Buffer.alloc(MiB, 7);
  // The bytes do not match their Upload-Checksum: known only once they have streamed to the store.
  expect((await createWith(body, { 'upload-length': String(body.length), 'upload-checksum': `sha256 ${sha256Base64(Buffer.from('other'))}` })).status).toBe(
    460,
  );
  // More bytes than Upload-Length, and a first piece too small to be a part of a longer upload.
  expect((await createWith(body, { 'upload-length': String(body.length - 1) })).status).toBe(413);
  expect((await createWith(body, { 'upload-length': String(12 * MiB) })).status).toBe(400);
  for (const length of ['-1', '1e3', 'abc', String(2 ** 60)]) {
    expect([400, 413]).toContain((await createWith(body, { 'upload-length': length })).status);
  }
  await waitUntil('every refused upload to be gone', async () => (await rows()) === sessions, 15_000, 100);
  expect(await bucketContents()).toEqual(before);
});

it('answers OPTIONS with the server\u2019s tus capabilities, and lets a browser on an allowed origin send and read the tus headers', async () => {
  const options = await fetch(`${ctx.baseUrl}/api/v2/tus`, { method: 'OPTIONS' });
  expect(options.status).toBe(204);
  expect(Object.fromEntries(['tus-version', 'tus-max-size', 'tus-extension', 'tus-checksum-algorithm'].map((h) => [h, options.headers.get(h)]))).toEqual({
    'tus-version': '1.0.0',
    'tus-max-size': String(ctx.config.uploads.maxSizeBytes),
    'tus-extension': 'creation,creation-with-upload,termination,expiration,checksum',
    'tus-checksum-algorithm': 'sha256',
  });
  const preflight = await fetch(`${ctx.baseUrl}/api/v2/tus/0190a000-0000-7000-8000-000000000001`, {
    method: 'OPTIONS',
    headers: {
      origin: ORIGIN,
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'authorization,tus-resumable,upload-offset,content-type',
    },
  });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-methods')).toMatch(/PATCH/);
  for (const h of ['Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Checksum'])
    expect(preflight.headers.get('access-control-allow-headers')).toContain(h);
  const created = await fetch(`${ctx.baseUrl}/api/v2/tus`, {
    method: 'POST',
    headers: tusHeaders(alice, { origin: ORIGIN, 'upload-length': '1', 'upload-metadata': `filename ${b64('a')}` }),
  });
  expect(created.status).toBe(201);
  for (const h of ['Location', 'Upload-Offset', 'Upload-Expires', 'Tus-Resumable']) expect(created.headers.get('access-control-expose-headers')).toContain(h);
  expect((await fetch(new URL(created.headers.get('location')!, ctx.baseUrl), { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
});

it('creates with the first bytes in the POST (creation-with-upload), and refuses bad tus requests with 4xx', async () => {
  const body = Buffer.alloc(3 * MiB, 1);
  const res = await fetch(`${ctx.baseUrl}/api/v2/tus`, {
    method: 'POST',
    headers: tusHeaders(alice, {
      'upload-length': String(body.length),
      'upload-metadata': `filename ${b64('at-once.bin')}`,
      'content-type': 'application/offset+octet-stream',
    }),
    body,
  });
  expect(res.status).toBe(201);
  expect(res.headers.get('upload-offset')).toBe(String(body.length));
  const url = new URL(res.headers.get('location')!, ctx.baseUrl).toString();
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: alice })).body).toMatchObject({ status: 'completed', name: 'at-once.bin' });

  // An empty file is complete once created: one empty part, committed.
  const empty = await create(0, `filename ${b64('empty.txt')}`);
  expect({ status: empty.status, offset: empty.headers.get('upload-offset') }).toEqual({ status: 201, offset: '0' });
  const emptyId = idOf(empty.headers.get('location')!);
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${emptyId}`, { as: alice })).body).toMatchObject({
    status: 'completed',
    size_bytes: 0,
    checksum_sha256: createHash('sha256').digest('hex'),
  });

  const open = new URL((await create(12 * MiB)).headers.get('location')!, ctx.baseUrl).toString();
  expect((await patch(open, 5, Buffer.alloc(6 * MiB))).status).toBe(409);
  expect((await patch(open, 0, Buffer.alloc(MiB))).status).toBe(400);
  // The length was fixed at creation: a PATCH that says another is refused, and stores nothing.
  expect((await patch(open, 0, Buffer.alloc(6 * MiB), { 'upload-length': String(6 * MiB) })).status).toBe(400);
  expect((await head(open)).headers.get('upload-offset')).toBe('0');
  expect((await fetch(open, { method: 'PATCH', headers: { ...tusHeaders(), 'upload-offset': '0', 'content-type': 'text/plain' }, body: 'x' })).status).toBe(
    415,
  );
  expect((await fetch(open, { method: 'HEAD', headers: { authorization: `Bearer ${alice}` } })).status).toBe(412);
  // A browser's File.type is empty for a type it does not know.
  const untyped = await create(10, `filename ${b64('a')},filetype`);
  expect(untyped.status).toBe(201);
  expect(
    (
      await ctx
        .db('upload_sessions')
        .where({ id: idOf(untyped.headers.get('location')!) })
        .first()
    ).content_type,
  ).toBe('application/octet-stream');
  expect((await fetch(new URL(untyped.headers.get('location')!, ctx.baseUrl), { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
  expect((await create(10, '')).status).toBe(400);
  expect((await create(10, `filename ${b64('a')},tags ${b64('not json')}`)).status).toBe(400);
  expect((await fetch(open, { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
});

it('takes one PATCH at a time per upload, across API processes (a PostgreSQL advisory lock): another at the same offset meanwhile is 423', async () => {
  const [port] = await freePorts(1);
  const other = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port) }));
  try {
    const otherApi = `http://127.0.0.1:${port}`;
    await waitUntil('the other API to listen', async () => (await fetch(`${otherApi}/health/live`).catch(() => undefined))?.ok);
    const created = await create(12 * MiB);
    const url = new URL(created.headers.get('location')!, ctx.baseUrl);
    const body = Buffer.alloc(6 * MiB, 3);
    // The first PATCH sends half its body, and waits.
    const first = request(url, {
      method: 'PATCH',
      headers: tusHeaders(alice, { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(body.length) }),
    });
    const firstAnswer = new Promise<number>((resolve, reject) => first.on('response', (res) => resolve(res.statusCode!)).on('error', reject));
    first.write(body.subarray(0, 3 * MiB));
    await waitUntil('the first PATCH to hold the lock', async () => {
      const { rows } = await ctx.db.raw(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      return rows[0].n > 0;
    });
    const second = await patch(`${otherApi}${url.pathname}`, 0, body);
    expect(second.status).toBe(423);
    first.end(body.subarray(3 * MiB));
    expect(await firstAnswer).toBe(204);
    expect((await head(`${otherApi}${url.pathname}`)).headers.get('upload-offset')).toBe(String(body.length));
    expect((await fetch(url, { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
  } finally {
    await other.kill();
  }
}, 60_000);

it('a PATCH whose lock is lost as it streams (its connection ended) is not recorded (423); the part it then writes over another PATCH\u2019s is caught at the finish', async () => {
  const url = new URL((await create(12 * MiB)).headers.get('location')!, ctx.baseUrl);
  const [first, second, rest] = [7, 8, 9].map((fill) => Buffer.alloc(6 * MiB, fill));
  const sending = request(url, {
    method: 'PATCH',
    headers: tusHeaders(alice, { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(first.length) }),
  });
  const firstAnswer = new Promise<number>((resolve, reject) => sending.on('response', (res) => resolve(res.statusCode!)).on('error', reject));
  sending.write(first.subarray(0, 3 * MiB));
  const pid = await waitUntil('the first PATCH to hold the lock', async () => {
    const { rows } = await ctx.db.raw(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    return rows[0]?.pid as number | undefined;
  });
  await ctx.db.raw('SELECT pg_terminate_backend(?)', [pid]);
  // The lock is free: a PATCH at the same offset takes it, and is recorded.
  expect((await patch(url.toString(), 0, second)).status).toBe(204);
  // The first one's bytes then reach the store, over the part just recorded.
  sending.end(first.subarray(3 * MiB));
  expect(await firstAnswer).toBe(423);
  expect((await head(url.toString())).headers.get('upload-offset')).toBe(String(6 * MiB));
  expect((await patch(url.toString(), 6 * MiB, rest)).status).toBe(204);
  const done = await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url.toString())}`, { as: alice });
  expect(done.body.status).toBe('completed');
  // The version's checksum is that of the bytes it holds, whichever part the store kept.
  expect(await downloadedSha256(done.body.asset_id)).toBe(done.body.checksum_sha256);
  expect(await scheduledActivities(idOf(url.toString()))).toEqual(['assembleParts', 'verifyObject']);
}, 60_000);

it('a PATCH whose upload expires while its body streams is 410, and moves no offset', async () => {
  const url = new URL((await create(12 * MiB)).headers.get('location')!, ctx.baseUrl);
  const body = Buffer.alloc(6 * MiB, 4);
  const sending = request(url, {
    method: 'PATCH',
    headers: tusHeaders(alice, { 'content-type': 'application/offset+octet-stream', 'upload-offset': '0', 'content-length': String(body.length) }),
  });
  const answer = new Promise<number>((resolve, reject) => sending.on('response', (res) => resolve(res.statusCode!)).on('error', reject));
  sending.write(body.subarray(0, 3 * MiB));
  await waitUntil('the PATCH to hold the lock', async () => {
    const { rows } = await ctx.db.raw(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    return rows[0].n > 0;
  });
  // Its expiry passes, checked when the PATCH began.
  await ctx
    .db('upload_sessions')
    .where({ id: idOf(url.toString()) })
    .update({ expires_at: new Date(Date.now() - 1000) });
  sending.end(body.subarray(3 * MiB));
  expect(await answer).toBe(410);
  expect(
    await ctx
      .db('tus_uploads')
      .where({ upload_id: idOf(url.toString()) })
      .first('offset_bytes', 'part_count'),
  ).toEqual({ offset_bytes: 0, part_count: 0 });
  expect((await fetch(url, { method: 'DELETE', headers: tusHeaders() })).status).toBe(204);
}, 60_000);

it('reads the object back when a part was not confirmed as the bytes the API hashed', async () => {
  const body = Buffer.alloc(12 * MiB, 5);
  const url = new URL((await create(body.length)).headers.get('location')!, ctx.baseUrl).toString();
  expect((await patch(url, 0, body.subarray(0, 6 * MiB))).status).toBe(204);
  // As when a store's part ETag is not the MD5 of the part (lib/uploads/sha256Stream.ts).
  await ctx
    .db('tus_uploads')
    .where({ upload_id: idOf(url) })
    .update({ sha256_streamed: false });
  expect((await patch(url, 6 * MiB, body.subarray(6 * MiB))).status).toBe(204);
  const done = await call(`${ctx.baseUrl}/api/v2/uploads/${idOf(url)}`, { as: alice });
  expect(done.body).toMatchObject({ status: 'completed', checksum_sha256: createHash('sha256').update(body).digest('hex') });
  expect(await scheduledActivities(idOf(url))).toEqual(['assembleParts', 'verifyObject']);
});
