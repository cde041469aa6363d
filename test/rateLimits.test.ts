/**
 * Rate limits over HTTP: the 429 and its headers, the separate budgets of reads, writes and content
 * bytes, the larger budgets of admins and services, the budget of a client without a token; content
 * bytes counted as they cross (chunked uploads, parts and tus PATCHes, concurrent downloads, a
 * download cut short); then two API processes sharing one budget in Redis, and an API whose Redis
 * goes away.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import { uuidv7 } from '../lib/platform/ids';
import { createS3Client } from '../lib/platform/s3Client';
import { createRedisClient } from '../lib/platform/redis';
import { freePorts } from '../scripts/stack';
import { bytesOf, download, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { addAsset, objectKeys } from './support/catalog';
import { openMultipartKeys } from './support/chunked';
import { useTestService, serveWith } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { startS3Proxy } from './support/s3Proxy';
import { startTcpProxy } from './support/tcpProxy';

const REDIS_PORT = 6379;
const WINDOW = 60;
// Small budgets, so that a test spends one in a few requests.
const BUDGETS = {
  STORAGE_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW),
  STORAGE_RATE_LIMIT_READS: '5',
  STORAGE_RATE_LIMIT_WRITES: '3',
  STORAGE_RATE_LIMIT_CONTENT_BYTES: '6000',
  STORAGE_RATE_LIMIT_PRIVILEGED_READS: '12',
  STORAGE_RATE_LIMIT_PRIVILEGED_WRITES: '6',
  STORAGE_RATE_LIMIT_PRIVILEGED_CONTENT_BYTES: '60000',
};
const SOME_ID = '0190a000-0000-7000-8000-000000000001';

const ctx = useTestService(BUDGETS);

/** A user of their own: budgets are per subject, so no two tests share one. */
const someUser = (roles: string[] = []) => tokenFor({ sub: `user-${uuidv7().slice(-12)}`, roles });

/** Each item of a RateLimit header: budget name to what is left (r) and the seconds to its reset (t). */
function stateOf(res: { headers: Headers }): Record<string, { r: number; t: number }> {
  const header = res.headers.get('ratelimit') ?? '';
  return Object.fromEntries([...header.matchAll(/"(\w+)";r=(\d+);t=(\d+)/g)].map(([, name, r, t]) => [name, { r: Number(r), t: Number(t) }] as const));
}

function expectRefused(res: JsonAnswer, budget: string) {
  expectProblem(res, 429);
  expect(res.body).toMatchObject({ title: 'Too Many Requests', policy: budget });
  const retryAfter = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW).toBe(true);
  expect(stateOf(res)[budget]).toEqual({ r: 0, t: retryAfter });
}

describe('one API process, budgets in memory', () => {
  it('counts reads down on every answer, then refuses with 429, Retry-After and the policy', async () => {
    const as = await someUser();
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call(`${ctx.baseUrl}/api/v2/assets`, { as });
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-policy')).toBe(`"reads";q=5;w=60, "writes";q=3;w=60, "content";q=6000;qu="content-bytes";w=60`);
      seen.push(stateOf(res).reads.r);
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    const refused = await call(`${ctx.baseUrl}/api/v2/assets`, { as });
    expectRefused(refused, 'reads');
    expect(refused.headers.get('ratelimit-policy')).toMatch(/^"reads";q=5;w=60/);
    // Another user's budget is whole.
    expect(stateOf(await call(`${ctx.baseUrl}/api/v2/assets`, { as: await someUser() })).reads.r).toBe(4);
  });

  it('keeps writes apart from reads: spent writes leave reads, and the refused write changes nothing', async () => {
    const as = await someUser();
    for (let i = 0; i < 3; i++) expect((await call(`${ctx.baseUrl}/api/v2/assets/${SOME_ID}/restore`, { method: 'POST', as })).status).toBe(404);
    const before = Number((await ctx.db('assets').count({ n: '*' }))[0].n);
    const form = new FormData();
    form.append('file', new Blob([bytesOf(100)]), 'late.bin');
    const late = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form, as });
    expectRefused(late, 'writes');
    expect(Number((await ctx.db('assets').count({ n: '*' }))[0].n)).toBe(before);
    const read = await call(`${ctx.baseUrl}/api/v2/assets`, { as });
    expect(read.status).toBe(200);
    expect(stateOf(read).reads.r).toBe(4);
  });

  it('counts content bytes on their own: an upload the bytes of its body, a download its length before its first byte', async () => {
    const as = await someUser();
    const file = bytesOf(3500);
    const form = new FormData();
    form.append('file', new Blob([file]), 'map.bin');
    const uploaded = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form, as });
    expect(uploaded.status).toBe(201);
    const afterUpload = stateOf(uploaded);
    expect(afterUpload.writes.r).toBe(2);
    expect(afterUpload.content.r).toBeLessThan(6000 - 3500);
    const url = `${ctx.baseUrl}/api/v2/assets/${uploaded.body.id}/content`;
    // Some of the budget was left, so the whole download goes, spending the rest.
    const first = await download(url, {}, as);
    expect(sha256(first.body)).toBe(sha256(file));
    expect(stateOf(first).content.r).toBe(0);
    // The next one is refused, metadata is still read.
    const refused = await call(url, { as });
    expectRefused(refused, 'content');
    expect(stateOf(refused).reads.r).toBeGreaterThan(0);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${uploaded.body.id}`, { as })).status).toBe(200);
  });

  it('gives admins and services their larger budgets', async () => {
    for (const role of ['storage:admin', 'storage:service']) {
      const as = await someUser([role]);
      for (let i = 0; i < 12; i++) {
        const res = await call(`${ctx.baseUrl}/api/v2/assets`, { as });
        expect({ i, status: res.status }).toEqual({ i, status: 200 });
        expect(res.headers.get('ratelimit-policy')).toMatch(/^"reads";q=12;w=60, "writes";q=6;w=60, "content";q=60000;/);
      }
      expectRefused(await call(`${ctx.baseUrl}/api/v2/assets`, { as }), 'reads');
    }
  });

  it('limits a client without a valid token by its address, refused tokens included', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call(`${ctx.baseUrl}/health/live`, { as: null }));
    answers.push(await call(`${ctx.baseUrl}/api/v2/assets`, { as: null }));
    answers.push(await call(`${ctx.baseUrl}/api/v2/assets`, { as: 'not-a-token' }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 401, 401]);
    expect(answers.map((a) => stateOf(a).reads.r)).toEqual([4, 3, 2, 1, 0]);
    expectRefused(await call(`${ctx.baseUrl}/health/live`, { as: null }), 'reads');
    // A valid token spends its subject's budget, not the address's.
    expect((await call(`${ctx.baseUrl}/health/live`, { as: await someUser() })).status).toBe(200);
  });
});

describe('content bytes, counted as they cross', () => {
  const MiB = 1024 * 1024;
  const served: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    await Promise.all(served.map((s) => s.close()));
  });

  /**
   * An API of its own over the same catalog, whose users have `content` bytes a window (and requests
   * to spare); with `redis`, its budgets and content cache are there.
   */
  async function serveWithContentBudget(
    content: number,
    opts: { s3?: S3Client; redis?: Redis } = {},
  ): Promise<{ baseUrl: string; port: number; keyPrefix: string; connections(): Promise<number> }> {
    const keyPrefix = `test-${uuidv7()}`;
    const rateLimits = { ...ctx.config.rateLimits, keyPrefix, standard: { reads: 1000, writes: 1000, content } };
    const cache = { ...ctx.config.cache, enabled: opts.redis !== undefined, keyPrefix };
    const config = { ...ctx.config, rateLimits, cache };
    const app = buildApp({ config, db: ctx.db, s3: opts.s3 ?? ctx.s3, temporal: ctx.temporal, logger: ctx.logger, redis: opts.redis });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    served.push({
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    });
    const { port } = server.address() as AddressInfo;
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    return { baseUrl: `http://127.0.0.1:${port}`, port, keyPrefix, connections };
  }

  /** An asset put in by an API without rate limits, read back by `owner`. */
  async function storedFor(owner: string, file: Buffer): Promise<{ id: string; etag: string }> {
    const unlimited = await serveWith(ctx, (config) => ({ ...config, rateLimits: { ...config.rateLimits, enabled: false } }));
    served.push(unlimited);
    const asset = (await addAsset(unlimited.baseUrl, file, { owner_id: owner })).body;
    return { id: asset.id, etag: `"${sha256(file)}"` };
  }

  /**
   * POSTs a simple upload's form with Transfer-Encoding: chunked (no Content-Length), the file in
   * pieces of 1000 bytes; the form's closing boundary is held until `end()`, so an answer that comes
   * first was given mid-body.
   */
  function postChunkedForm(url: string, token: string, file: Buffer): { answer: Promise<JsonAnswer>; answered: () => boolean; end(): void } {
    const boundary = `chunked-${uuidv7()}`;
    const headers = { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` };
    let answered = false;
    let end = () => {};
    const answer = new Promise<JsonAnswer>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const body = /json/.test(res.headers['content-type'] ?? '') ? JSON.parse(text) : text;
          resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), body });
        });
      });
      req.on('error', reject);
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="chunked.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      for (let at = 0; at < file.length; at += 1000) req.write(file.subarray(at, at + 1000));
      end = () => req.end(`\r\n--${boundary}--\r\n`);
    });
    return { answer, answered: () => answered, end: () => end() };
  }

  it('charges an upload sent chunked, without a Content-Length, by the bytes that arrived', async () => {
    const as = await someUser();
    const file = bytesOf(2000);
    const upload = postChunkedForm(`${ctx.baseUrl}/api/v2/assets/upload`, as, file);
    upload.end();
    const res = await upload.answer;
    expect(res.status).toBe(201);
    // The file and the form's framing around it.
    expect(stateOf(res).content?.r).toBeLessThanOrEqual(6000 - 2000);
    expect(stateOf(res).content?.r).toBeGreaterThan(6000 - 2000 - 400);
  });

  it('refuses a chunked upload mid-body once it passes the budget: 429 problem+json, no row, no object', async () => {
    const sub = `user-${uuidv7().slice(-12)}`;
    const as = await tokenFor({ sub });
    const objectsBefore = await objectKeys(ctx, '');
    const upload = postChunkedForm(`${ctx.baseUrl}/api/v2/assets/upload`, as, bytesOf(12_000));
    try {
      await waitUntil('the upload to be refused before its body ends', async () => upload.answered());
    } finally {
      upload.end();
    }
    const res = await upload.answer;
    expectRefused(res, 'content');
    expect(res.body.detail).toMatch(/content bytes/);
    expect(Number((await ctx.db('assets').where({ owner_id: sub }).count({ n: '*' }))[0].n)).toBe(0);
    await waitUntil('the refused upload to leave no session', async () => {
      const [{ n }] = await ctx.db('upload_sessions').where({ quota_owner_id: sub }).count({ n: '*' });
      return Number(n) === 0;
    });
    expect(await objectKeys(ctx, '')).toEqual(objectsBefore);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, '')).toEqual([]);
  });

  it('charges a part and a tus PATCH the bytes they carry; a part whose length passes what is left is refused before its body', async () => {
    const api = (await serveWithContentBudget(20_000)).baseUrl;
    const as = await someUser();
    const session = await call(`${api}/api/v2/uploads`, { method: 'POST', json: { name: 'parts.bin', size_bytes: 3000 }, as });
    expect(session.status).toBe(201);
    const afterSession = stateOf(session).content.r;
    const part = await call(`${api}/api/v2/uploads/${session.body.id}/parts/1`, { method: 'PUT', body: bytesOf(3000), as });
    expect(part.status).toBe(200);
    expect(stateOf(part).content.r).toBe(afterSession - 3000);

    const tusHeaders = { authorization: `Bearer ${as}`, 'tus-resumable': '1.0.0' };
    const created = await fetch(`${api}/api/v2/tus`, {
      method: 'POST',
      headers: { ...tusHeaders, 'upload-length': '3000', 'upload-metadata': `filename ${Buffer.from('tus.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const patched = await fetch(new URL(created.headers.get('location')!, api), {
      method: 'PATCH',
      headers: { ...tusHeaders, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: bytesOf(3000),
    });
    expect(patched.status).toBe(204);
    const afterPatch = stateOf(patched).content.r;
    expect(afterPatch).toBe(afterSession - 6000);

    const large = await call(`${api}/api/v2/uploads`, { method: 'POST', json: { name: 'large.bin', size_bytes: 20_000 }, as });
    const refused = await call(`${api}/api/v2/uploads/${large.body.id}/parts/1`, { method: 'PUT', body: bytesOf(20_000), as });
    expectProblem(refused, 429);
    expect(refused.body.detail).toMatch(/20000 bytes pass the \d+ content bytes left/);
    expect((await call(`${api}/api/v2/uploads/${large.body.id}`, { as })).body).toMatchObject({ parts_received: [], bytes_received: 0 });
  });

  it('charges a presigned part URL the part\u2019s bytes when it is signed, as a part PUT through the API; one that passes what is left is refused', async () => {
    const api = (await serveWithContentBudget(10_000)).baseUrl;
    const as = await someUser();
    const session = await call(`${api}/api/v2/uploads`, { method: 'POST', json: { name: 'signed.bin', size_bytes: 4000 }, as });
    const afterSession = stateOf(session).content.r;
    const signed = await call(`${api}/api/v2/uploads/${session.body.id}/parts/1/url`, { method: 'POST', as });
    expect(signed.status).toBe(200);
    expect(stateOf(signed).content.r).toBe(afterSession - 4000);
    // The URL takes the part without a token; its bytes were paid for when it was signed.
    expect((await fetch(signed.body.url, { method: 'PUT', body: bytesOf(4000) })).status).toBe(200);

    const large = await call(`${api}/api/v2/uploads`, { method: 'POST', json: { name: 'large.bin', size_bytes: 8000 }, as });
    const refused = await call(`${api}/api/v2/uploads/${large.body.id}/parts/1/url`, { method: 'POST', as });
    expectProblem(refused, 429);
    expect(refused.body).toMatchObject({ policy: 'content' });
    expect(refused.body.detail).toMatch(/8000 bytes pass the \d+ content bytes left/);
    // Refused before anything was taken: a part that fits is still signed.
    const small = await call(`${api}/api/v2/uploads`, { method: 'POST', json: { name: 'small.bin', size_bytes: 1000 }, as });
    expect((await call(`${api}/api/v2/uploads/${small.body.id}/parts/1/url`, { method: 'POST', as })).status).toBe(200);
  });

  it('lets concurrent downloads spend at most the budget and one download more, however many pass at once', async () => {
    const BUDGET = 10_000;
    const SIZE = 3000;
    const N = 8;
    const sub = `user-${uuidv7().slice(-12)}`;
    const as = await tokenFor({ sub });
    const asset = await storedFor(sub, bytesOf(SIZE));
    // Every GET the API sends the store is held there, so every download is in flight at once.
    const store = await startS3Proxy(ctx.config.s3.endpoint);
    const s3 = createS3Client({ ...ctx.config.s3, endpoint: store.url });
    try {
      const api = (await serveWithContentBudget(BUDGET, { s3 })).baseUrl;
      store.hold((req) => req.method === 'GET');
      let refused = 0;
      const downloads = Array.from({ length: N }, () =>
        download(`${api}/api/v2/assets/${asset.id}/content`, {}, as).then((res) => {
          if (res.status === 429) refused++;
          return res;
        }),
      );
      await waitUntil('every download held at the store or refused', async () => store.held() + refused === N);
      store.release();
      const answers = await Promise.all(downloads);
      const sent = answers.filter((a) => a.status === 200).reduce((n, a) => n + a.body.length, 0);
      expect(sent).toBeLessThanOrEqual(BUDGET + SIZE);
      // 3 downloads leave 1000 bytes: the 4th crosses the budget, no later one starts.
      expect(answers.map((a) => a.status).sort()).toEqual([...Array(4).fill(200), ...Array(N - 4).fill(429)]);
    } finally {
      s3.destroy();
      await store.close();
    }
  });

  it('charges a download served from the content cache its length, as one from the store', async () => {
    const SIZE = 1000;
    const sub = `user-${uuidv7().slice(-12)}`;
    const as = await tokenFor({ sub });
    const asset = await storedFor(sub, bytesOf(SIZE));
    const redis = createRedisClient(`redis://127.0.0.1:${REDIS_PORT}`);
    const service = await serveWithContentBudget(MiB, { redis });
    try {
      const api = service.baseUrl;
      const contentHits = async () => {
        const text = await (await fetch(`${api}/metrics`)).text();
        return Number(/^storage_cache_requests_total\{cache="content",result="hit"\} (\d+)/m.exec(text)?.[1] ?? 0);
      };
      let left = MiB;
      // The first read keeps the bytes a moment after it ends: read until one is a hit.
      await waitUntil('a download served from the content cache', async () => {
        const hitsBefore = await contentHits();
        const res = await download(`${api}/api/v2/assets/${asset.id}/content`, {}, as);
        expect(res.status).toBe(200);
        expect(stateOf(res).content.r).toBe(left - SIZE);
        left -= SIZE;
        return (await contentHits()) === hitsBefore + 1;
      });
    } finally {
      const keys = await redis.keys(`${service.keyPrefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('gives the whole length back to a download whose client went away before its first byte, and leaves nothing open at the store', async () => {
    const BUDGET = 64 * MiB;
    // More than the connections' buffers hold: a store answer nobody reads stays open.
    const SIZE = 16 * MiB;
    const sub = `user-${uuidv7().slice(-12)}`;
    const as = await tokenFor({ sub });
    const asset = await storedFor(sub, bytesOf(SIZE));
    const store = await startS3Proxy(ctx.config.s3.endpoint);
    const s3 = createS3Client({ ...ctx.config.s3, endpoint: store.url });
    // The test's own connection locks the catalog's assets: the download waits there, before its budget is spent.
    const lock = await ctx.db.transaction();
    try {
      const api = await serveWithContentBudget(BUDGET, { s3 });
      await lock.raw('LOCK TABLE assets IN ACCESS EXCLUSIVE MODE');
      const client = http.get(`${api.baseUrl}/api/v2/assets/${asset.id}/content`, { headers: { authorization: `Bearer ${as}` } });
      client.on('error', () => {});
      await waitUntil('the download to wait for the asset', async () => {
        const waiting = await ctx.db('pg_stat_activity').whereRaw('datname = current_database()').where({ wait_event_type: 'Lock' }).first('pid');
        return waiting !== undefined;
      });
      client.destroy();
      await waitUntil('the API to see its client gone', async () => (await api.connections()) === 0);
      await lock.commit();
      const contentLeft = async () => {
        const res = await download(`${api.baseUrl}/api/v2/assets/${asset.id}/content`, { 'If-None-Match': asset.etag }, as);
        expect(res.status).toBe(304);
        return stateOf(res).content.r;
      };
      await waitUntil('the whole length to be given back', async () => (await contentLeft()) === BUDGET, 10_000);
      await waitUntil('no request left open at the store', async () => store.inFlight() === 0, 10_000);
    } finally {
      if (!lock.isCompleted()) await lock.rollback();
      s3.destroy();
      await store.close();
    }
  });

  it('charges a download the client went away from what it was sent, not nothing and not the whole', async () => {
    const BUDGET = 64 * MiB;
    const SIZE = 16 * MiB;
    const CUT = 256 * 1024;
    const sub = `user-${uuidv7().slice(-12)}`;
    const as = await tokenFor({ sub });
    const asset = await storedFor(sub, bytesOf(SIZE));
    const api = await serveWithContentBudget(BUDGET);
    const url = `${api.baseUrl}/api/v2/assets/${asset.id}/content`;
    // The client reads through a proxy that resets the connection after the first CUT bytes.
    const front = await startTcpProxy(api.port);
    try {
      front.cutAfter(CUT);
      await fetch(`http://127.0.0.1:${front.port}/api/v2/assets/${asset.id}/content`, { headers: { authorization: `Bearer ${as}` } })
        .then((res) => res.arrayBuffer())
        .catch(() => undefined);
    } finally {
      await front.close();
    }
    const contentLeft = async () => {
      const res = await download(url, { 'If-None-Match': asset.etag }, as);
      expect(res.status).toBe(304);
      return stateOf(res).content.r;
    };
    const left = await waitUntil('what was not sent to be given back', async () => {
      const r = await contentLeft();
      return r > BUDGET - SIZE && r;
    });
    expect(BUDGET - left).toBeGreaterThanOrEqual(CUT - 1024);
    expect(BUDGET - left).toBeLessThan(SIZE);
  }, 120_000);
});

describe('API processes sharing Redis', () => {
  const running: ServiceProcess[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.kill()));
  });

  async function startApi(redisUrl: string, prefix: string): Promise<string> {
    const [port] = await freePorts(1);
    const api = spawnService(
      'api/server.ts',
      // The suite's admin asks /health as often as it needs.
      envFor(ctx.config, {
        ...BUDGETS,
        STORAGE_RATE_LIMIT_PRIVILEGED_READS: '1000000',
        STORAGE_PORT: String(port),
        STORAGE_REDIS_URL: redisUrl,
        STORAGE_REDIS_PREFIX: prefix,
      }),
    );
    running.push(api);
    const url = `http://127.0.0.1:${port}`;
    await waitUntil('the API to listen', async () => (await fetch(`${url}/health/live`).catch(() => undefined))?.ok, 60_000);
    return url;
  }

  it('spends one budget whichever process answers', async () => {
    const prefix = `test-${uuidv7()}`;
    const [a, b] = await Promise.all([startApi(`redis://127.0.0.1:${REDIS_PORT}`, prefix), startApi(`redis://127.0.0.1:${REDIS_PORT}`, prefix)]);
    const health = await call(`${a}/health`);
    expect(health.body.checks.redis).toMatchObject({ status: 'ok' });
    const as = await someUser();
    const left: number[] = [];
    for (const api of [a, b, a, b, a]) {
      const res = await call(`${api}/api/v2/assets`, { as });
      expect(res.status).toBe(200);
      left.push(stateOf(res).reads.r);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    expectRefused(await call(`${b}/api/v2/assets`, { as }), 'reads');
    expectRefused(await call(`${a}/api/v2/assets`, { as }), 'reads');
  }, 120_000);

  it('goes on answering from memory while Redis is unreachable, /health degraded naming Redis', async () => {
    const proxy = await startTcpProxy(REDIS_PORT);
    try {
      const api = await startApi(`redis://127.0.0.1:${proxy.port}`, `test-${uuidv7()}`);
      await waitUntil('Redis to be up', async () => (await call(`${api}/health`)).body.checks.redis?.status === 'ok');
      const as = await someUser();
      expect(stateOf(await call(`${api}/api/v2/assets`, { as })).reads.r).toBe(4);

      proxy.down();
      const health = await waitUntil('/health to be degraded', async () => {
        const res = await call(`${api}/health`);
        return res.body.status === 'degraded' && res;
      });
      expect(health.body.checks.redis).toMatchObject({ status: 'down', error: expect.stringMatching(/Redis/) });
      expect(health.body.checks.database.status).toBe('ok');
      expect((await call(`${api}/health/ready`)).status).toBe(200);
      // Answered at once, with a budget of this process's own.
      const started = performance.now();
      const res = await call(`${api}/api/v2/assets`, { as });
      expect(res.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(400);
      expect(stateOf(res).reads.r).toBe(4);

      // A Redis that hangs costs the requests in flight at most the command timeout, then the client lets go.
      proxy.up();
      await waitUntil('Redis to be back', async () => (await call(`${api}/health`)).body.status === 'ok');
      proxy.stall();
      const during = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        expect((await call(`${api}/api/v2/assets`, { as: await someUser() })).status).toBe(200);
        during.push(performance.now() - t);
      }
      expect(Math.max(...during)).toBeLessThan(1500);
      expect(during[2]).toBeLessThan(400);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});
