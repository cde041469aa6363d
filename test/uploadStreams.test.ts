/**
 * Request bodies that stream slowly, or stop: a part PUT or a tus PATCH whose client sends half its
 * body and waits, or leaves. Slow ones hold no pooled database connection (a burst of them larger than
 * the pool leaves the API answering), are bounded in number per user and in all (429 with
 * Retry-After, the slot given back however the request ends), and one whose client leaves ends the
 * store's request it was feeding at once, and the upload's lock with it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import { loadConfig } from '../lib/platform/config';
import { uuidv7 } from '../lib/platform/ids';
import { createS3Client } from '../lib/platform/s3Client';
import { bytesOf, download, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { serveWith, useTestService, type ServedApp } from './support/context';
import { call, expectProblem, inPieces, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';

const POOL = 4;
const PER_USER = 3;
const IN_ALL = 6;
const SIZE = 64 * 1024;
const HALF = SIZE / 2;

// A second API over the same catalog, whose store is behind a proxy that sees its requests.
let proxied: { baseUrl: string; store: S3Proxy; close(): Promise<void> };
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await proxied?.close();
});
const ctx = useTestService({
  STORAGE_DATABASE_POOL_MAX: String(POOL),
  STORAGE_RATE_LIMIT_UPLOAD_STREAMS: String(PER_USER),
  STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS: String(IN_ALL),
});
beforeAll(async () => {
  const store = await startS3Proxy(ctx.config.s3.endpoint);
  const s3 = createS3Client({ ...ctx.config.s3, endpoint: store.url });
  const app = buildApp({ config: ctx.config, db: ctx.db, s3, temporal: ctx.temporal, logger: ctx.logger });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  proxied = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    store,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      s3.destroy();
      await store.close();
    },
  };
});

const someUser = () => tokenFor({ sub: `streamer-${uuidv7().slice(-12)}` });
const TUS = { 'tus-resumable': '1.0.0' };

async function newTus(baseUrl: string, token: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v2/tus`, {
    method: 'POST',
    headers: {
      ...TUS,
      authorization: `Bearer ${token}`,
      'upload-length': String(SIZE),
      'upload-metadata': `filename ${Buffer.from('s.bin').toString('base64')}`,
    },
  });
  expect(res.status).toBe(201);
  return res.headers.get('location')!.split('/').pop()!;
}

function tusPatch(baseUrl: string, id: string, token: string, offset = 0) {
  return inPieces(`${baseUrl}/api/v2/tus/${id}`, 'PATCH', {
    ...TUS,
    authorization: `Bearer ${token}`,
    'content-type': 'application/offset+octet-stream',
    'upload-offset': String(offset),
    'content-length': String(SIZE),
  });
}

async function newSession(baseUrl: string, token: string): Promise<string> {
  const opened = await call(`${baseUrl}/api/v2/uploads`, { method: 'POST', json: { name: 's.bin', size_bytes: SIZE }, as: token });
  expect(opened.status).toBe(201);
  return opened.body.id;
}

function partPut(baseUrl: string, id: string, token: string) {
  return inPieces(`${baseUrl}/api/v2/uploads/${id}/parts/1`, 'PUT', {
    authorization: `Bearer ${token}`,
    'content-type': 'application/octet-stream',
    'content-length': String(SIZE),
  });
}

async function bytesUploaded(): Promise<number> {
  const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
  return Number(/^storage_bytes_uploaded_total (\d+)/m.exec(text)?.[1] ?? 0);
}

/** Until the API has counted `n` more uploaded bytes than `from`: that many bodies are streaming past their checks. */
async function untilCounted(from: number, n: number): Promise<void> {
  await waitUntil('the API to stream the first pieces', async () => (await bytesUploaded()) >= from + n, 30_000, 20);
}

it(`a burst of ${POOL + 1} slow tus PATCHes, more than the pool's ${POOL} connections, leaves the API answering; each then completes once`, async () => {
  const BURST = POOL + 1;
  const users = await Promise.all([someUser(), someUser(), someUser()]);
  const userOf = (i: number) => users[i % users.length];
  const ids = await Promise.all(Array.from({ length: BURST }, (_, i) => newTus(ctx.baseUrl, userOf(i))));
  const bytes = bytesOf(SIZE);
  const counted = await bytesUploaded();
  const patches = ids.map((id, i) => tusPatch(ctx.baseUrl, id, userOf(i)));
  await Promise.all(patches.map((p) => p.write(bytes.subarray(0, HALF))));
  await untilCounted(counted, BURST * HALF);
  // Every body is mid-stream, each holding its upload's lock: requests that need the database still answer.
  const status = await call(`${ctx.baseUrl}/api/v2/uploads/${ids[0]}`, { as: userOf(0) });
  expect(status.status).toBe(200);
  // Another at the same offset is refused while the first holds the lock, and is not stored.
  const again = await fetch(`${ctx.baseUrl}/api/v2/tus/${ids[2]}`, {
    method: 'PATCH',
    headers: { ...TUS, authorization: `Bearer ${userOf(2)}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
    body: bytes,
  });
  expect(again.status).toBe(423);
  const answers = await Promise.all(patches.map((p) => p.end(bytes.subarray(HALF))));
  expect(answers.map((a) => a.status)).toEqual(Array(BURST).fill(204));
  expect(await ctx.db('tus_uploads').whereIn('upload_id', ids).pluck('part_count')).toEqual(Array(BURST).fill(1));
});

describe('the bound on streams', () => {
  it(`is ${PER_USER} per user: the next is 429 with Retry-After, another user streams, and a slot comes back when a stream ends, however it ends`, async () => {
    const [alice, bob] = [await someUser(), await someUser()];
    const sessions = await Promise.all(Array.from({ length: PER_USER + 1 }, () => newSession(ctx.baseUrl, alice)));
    const bytes = bytesOf(SIZE);
    const counted = await bytesUploaded();
    const held = sessions.slice(0, PER_USER).map((id) => partPut(ctx.baseUrl, id, alice));
    await Promise.all(held.map((p) => p.write(bytes.subarray(0, HALF))));
    await untilCounted(counted, PER_USER * HALF);

    const refused = await call(`${ctx.baseUrl}/api/v2/uploads/${sessions[PER_USER]}/parts/1`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
      as: alice,
    });
    expectProblem(refused, 429);
    expect(refused.body).toMatchObject({ policy: 'upload_streams' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // A part labelled JSON streams to the store all the same, and counts as any other.
    const labelled = await call(`${ctx.baseUrl}/api/v2/uploads/${sessions[PER_USER]}/parts/1`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/json' },
      as: alice,
    });
    expectProblem(labelled, 429);
    // A tus PATCH is a stream too.
    const tusId = await newTus(ctx.baseUrl, alice);
    const patch = tusPatch(ctx.baseUrl, tusId, alice);
    expectProblem(await patch.end(bytes), 429);

    const other = await newSession(ctx.baseUrl, bob);
    const bobs = await call(`${ctx.baseUrl}/api/v2/uploads/${other}/parts/1`, {
      method: 'PUT',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
      as: bob,
    });
    expect(bobs.status).toBe(200);

    // One client leaves mid-body: its slot is back.
    held[0].leave();
    await waitUntil(
      'a slot to come back',
      async () =>
        (
          await call(`${ctx.baseUrl}/api/v2/uploads/${sessions[PER_USER]}/parts/1`, {
            method: 'PUT',
            body: bytes,
            headers: { 'content-type': 'application/octet-stream' },
            as: alice,
          })
        ).status === 200,
      10_000,
      100,
    );
    const rest = await Promise.all(held.slice(1).map((p) => p.end(bytes.subarray(HALF))));
    expect(rest.map((a) => a.status)).toEqual([200, 200]);
  });

  it(`is ${IN_ALL} in all: a user with none streaming is refused while others hold every slot`, async () => {
    const users = await Promise.all([someUser(), someUser(), someUser()]);
    const sessions = await Promise.all(Array.from({ length: IN_ALL }, (_, i) => newSession(ctx.baseUrl, users[i % 3])));
    const bytes = bytesOf(SIZE);
    const counted = await bytesUploaded();
    const held = sessions.map((id, i) => partPut(ctx.baseUrl, id, users[i % 3]));
    await Promise.all(held.map((p) => p.write(bytes.subarray(0, HALF))));
    await untilCounted(counted, IN_ALL * HALF);
    const late = await someUser();
    const tusId = await newTus(ctx.baseUrl, late);
    expectProblem(await tusPatch(ctx.baseUrl, tusId, late).end(bytes), 429);
    const answers = await Promise.all(held.map((p) => p.end(bytes.subarray(HALF))));
    expect(answers.map((a) => a.status)).toEqual(Array(IN_ALL).fill(200));
    const res = await fetch(`${ctx.baseUrl}/api/v2/tus/${tusId}`, {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${late}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: bytes,
    });
    expect(res.status).toBe(204);
  });
});

describe('a client that leaves mid-body', () => {
  it('mid part PUT: the store request it fed ends at once, and the part is not stored', async () => {
    const user = await someUser();
    const id = await newSession(proxied.baseUrl, user);
    const part = partPut(proxied.baseUrl, id, user);
    await part.write(bytesOf(HALF));
    await waitUntil(
      'the part to reach the store',
      async () => proxied.store.requests.some((r) => r.method === 'PUT' && r.path.includes(`partNumber=1`)) && proxied.store.inFlight() > 0,
    );
    part.leave();
    await waitUntil('the store request to end', async () => proxied.store.inFlight() === 0, 5_000, 20);
    const status = await call(`${ctx.baseUrl}/api/v2/uploads/${id}`, { as: user });
    expect(status.body).toMatchObject({ status: 'open', parts_received: [] });
  });

  it('mid tus PATCH: the store request ends, the lock goes with it, and the next PATCH at the same offset is taken', async () => {
    const user = await someUser();
    const id = await newTus(proxied.baseUrl, user);
    const patch = tusPatch(proxied.baseUrl, id, user);
    await patch.write(bytesOf(HALF));
    await waitUntil('the PATCH to reach the store', async () => proxied.store.inFlight() > 0);
    patch.leave();
    await waitUntil('the store request to end', async () => proxied.store.inFlight() === 0, 5_000, 20);
    const res = await fetch(`${proxied.baseUrl}/api/v2/tus/${id}`, {
      method: 'PATCH',
      headers: { ...TUS, authorization: `Bearer ${user}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: bytesOf(SIZE),
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('upload-offset')).toBe(String(SIZE));
  });
});

it('a part re-sent while complete runs is not acknowledged, and the version holds the parts complete found', async () => {
  const user = await someUser();
  const PART = 5 * 1024 * 1024;
  const first = bytesOf(PART);
  const second = bytesOf(1000);
  const opened = await call(`${ctx.baseUrl}/api/v2/uploads`, {
    method: 'POST',
    json: { name: 'raced.bin', size_bytes: PART + 1000, part_size_bytes: PART },
    as: user,
  });
  const id = opened.body.id;
  const put = (n: number, bytes: Buffer) =>
    call(`${ctx.baseUrl}/api/v2/uploads/${id}/parts/${n}`, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' }, as: user });
  expect((await put(1, first)).status).toBe(200);
  expect((await put(2, second)).status).toBe(200);
  const counted = await bytesUploaded();
  const resend = inPieces(`${ctx.baseUrl}/api/v2/uploads/${id}/parts/2`, 'PUT', {
    authorization: `Bearer ${user}`,
    'content-type': 'application/octet-stream',
    'content-length': '1000',
  });
  const other = bytesOf(1000);
  await resend.write(other.subarray(0, 500));
  await untilCounted(counted, 500);
  const completed = await call(`${ctx.baseUrl}/api/v2/uploads/${id}/complete`, { method: 'POST', as: user });
  expect(completed.status).toBe(200);
  expectProblem(await resend.end(other.subarray(500)), 409);
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${completed.body.asset.id}/content`, {}, user);
  expect(sha256(content.body)).toBe(sha256(Buffer.concat([first, second])));
});

describe('one caller past its streams, with the shipped bounds', () => {
  // The bounds as they ship, whatever this file's service sets: streams per caller and in all, and the
  // API's simple uploads in flight (STORAGE_MAX_PENDING_UPLOADS), which one caller must not fill.
  const shipped = loadConfig({
    ...process.env,
    STORAGE_RATE_LIMIT_UPLOAD_STREAMS: undefined,
    STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS: undefined,
    STORAGE_MAX_PENDING_UPLOADS: undefined,
  });
  const perCaller = shipped.rateLimits.uploadStreams.perCaller;
  const admitted = shipped.uploads.maxPending;
  let api: ServedApp | undefined;
  beforeAll(async () => {
    api = await serveWith(ctx, (config) => ({
      ...config,
      rateLimits: { ...config.rateLimits, uploadStreams: shipped.rateLimits.uploadStreams },
      uploads: { ...config.uploads, maxPending: admitted },
    }));
  });
  afterAll(async () => {
    await api?.close();
  });

  /** A simple upload's form whose file is sent half, then held until `end`. */
  async function heldUpload(baseUrl: string, token: string, file: Buffer) {
    const boundary = `held-${uuidv7()}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="held.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const upload = inPieces(`${baseUrl}/api/v2/assets/upload`, 'POST', {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(head.length + file.length + tail.length),
    });
    let answered: JsonAnswer | undefined;
    void upload.answer.then((a) => (answered = a)).catch(() => {});
    // A refusal may close the connection before the first half is written: its answer says so.
    await upload.write(Buffer.concat([head, file.subarray(0, HALF)])).catch(() => {});
    return { answered: () => answered, end: () => upload.end(Buffer.concat([file.subarray(HALF), tail])), leave: upload.leave };
  }

  it(`gets 429 for its own excess before it can take the API's ${admitted} admissions: another caller's upload is still taken`, async () => {
    expect(perCaller).toBeLessThan(admitted);
    const [greedy, other] = [await someUser(), await someUser()];
    const file = bytesOf(SIZE);
    const tries = admitted + perCaller;
    const held = await Promise.all(Array.from({ length: tries }, () => heldUpload(api!.baseUrl, greedy, file)));
    // The ones taken cannot be answered before their body ends: the rest are answered as they arrive.
    await waitUntil('every excess upload to be answered', async () => held.filter((h) => h.answered()).length >= tries - perCaller, 30_000, 50);

    // Its excess is refused as its own, never as the API's admission being full.
    const refused = held.filter((h) => h.answered());
    expect(refused).toHaveLength(tries - perCaller);
    for (const h of refused) {
      expectProblem(h.answered()!, 429);
      expect(h.answered()!.body).toMatchObject({ policy: 'upload_streams' });
    }
    // While its streams are all held, another caller's upload is admitted and stored.
    const form = new FormData();
    form.append('file', new Blob([file]), 'other.bin');
    const others = await call(`${api!.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form, as: other });
    expect(others.status).toBe(201);
    expect(others.body.checksum_sha256).toBe(sha256(file));

    refused.forEach((h) => h.leave());
    const ends = await Promise.all(held.filter((h) => !h.answered()).map((h) => h.end()));
    expect(ends.map((a) => a.status)).toEqual(Array(perCaller).fill(201));
  });
});
