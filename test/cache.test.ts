/**
 * The Redis cache (issue 17) against real Redis, PostgreSQL, SeaweedFS and Temporal: API processes
 * sharing one cache, each write answered 2xx by one of them seen at once by the others under a
 * concurrent GET load; content hits with the same bytes, ranges and conditional answers as S3; and
 * an API whose Redis goes away in the middle of a load, then comes back.
 */
import { uuidv7 } from '../lib/platform/ids';
import { createRedisClient } from '../lib/platform/redis';
import { freePorts } from '../scripts/stack';
import { bytesOf, download, postForm, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

const REDIS_URL = 'redis://127.0.0.1:6379';
// Every process of this file shares one cache; no other test's keys are touched.
const PREFIX = `test-cache-${uuidv7()}`;
const SERVICE = { STORAGE_REDIS_URL: REDIS_URL, STORAGE_REDIS_PREFIX: PREFIX, STORAGE_RATE_LIMITS: 'off' };

let ctx: TestContext;
let proxy: TcpProxy;
const running: ServiceProcess[] = [];
/** Two replicas on Redis itself, and one reaching it through a proxy the test can stop. */
let a: string;
let b: string;
let c: string;

async function startApi(redisUrl: string): Promise<string> {
  const [port] = await freePorts(1);
  const api = spawnService('api/server.ts', envFor(ctx.config, { ...SERVICE, STORAGE_REDIS_URL: redisUrl, STORAGE_PORT: String(port) }));
  running.push(api);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('the API to listen', async () => (await fetch(`${url}/health/live`).catch(() => undefined))?.ok, 60_000);
  return url;
}

beforeAll(async () => {
  ctx = await startTestService(SERVICE);
  proxy = await startTcpProxy(6379);
  [a, b, c] = await Promise.all([startApi(REDIS_URL), startApi(REDIS_URL), startApi(`redis://127.0.0.1:${proxy.port}`)]);
}, 120_000);
afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  await proxy?.close();
  await ctx?.stop();
  // The shared Redis keeps nothing of this file.
  const redis = createRedisClient(REDIS_URL);
  await waitUntil('Redis to answer', async () => redis.status === 'ready');
  const keys = await redis.keys(`${PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const user = () => `user-${uuidv7().slice(-12)}`;

/** storage_cache_requests_total of one process, by `cache/result`. */
async function cacheCounts(api: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, cache, result, n] of text.matchAll(/^storage_cache_requests_total\{cache="(\w+)",result="(\w+)"\} (\d+)/gm))
    counts[`${cache}/${result}`] = Number(n);
  return counts;
}

async function newAsset(owner: string, file: Buffer): Promise<{ id: string; version: string }> {
  const res = await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, file, { name: 'portrait.png', owner_id: owner, metadata: JSON.stringify({ n: '0' }) });
  expect(res.status).toBe(201);
  return { id: res.body.id, version: res.body.current_version_id };
}

/**
 * GETs of the asset and its content on every replica, as its owner, until stopped (bounded in count
 * and time). Each answer is a 200, or a 404 while the asset is soft-deleted; anything else is kept.
 */
function getLoad(apis: string[], id: string, as: string) {
  let stop = false;
  const failures: string[] = [];
  let answered = 0;
  const deadline = Date.now() + 90_000;
  const loops = Array.from({ length: 6 }, async (_, i) => {
    const api = apis[i % apis.length];
    for (let n = 0; !stop && n < 20_000 && Date.now() < deadline; n++) {
      const path = n % 2 ? `/api/v2/assets/${id}` : `/api/v2/assets/${id}/content`;
      try {
        const res = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${as}` } });
        await res.arrayBuffer();
        if (res.status !== 200 && res.status !== 404) failures.push(`${api}${path}: ${res.status}`);
        answered++;
      } catch (err) {
        failures.push(`${api}${path}: ${(err as Error).message}`);
      }
    }
  });
  return {
    failures,
    answered: () => answered,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
    },
  };
}

describe('replicas sharing the cache', () => {
  it('shows every write answered 2xx by one replica at once on the others, under a concurrent GET load', async () => {
    const owner = user();
    const reader = user();
    const [as, asReader] = await Promise.all([tokenFor({ sub: owner }), tokenFor({ sub: reader })]);
    const first = bytesOf(4000);
    const asset = await newAsset(owner, first);
    const load = getLoad([a, b], asset.id, as);
    try {
      await waitUntil('the load to fill the cache', async () => (await cacheCounts(b))['asset/hit'] > 0 && load.answered() > 20);
      for (let i = 1; i <= 4; i++) {
        const [writer, other] = i % 2 ? [a, b] : [b, a];
        const read = (api: string, token = as) => call(`${api}/api/v2/assets/${asset.id}`, { as: token });

        const updated = await call(`${writer}/api/v2/assets/${asset.id}`, {
          method: 'PUT',
          as,
          json: { name: `portrait-${i}.png`, metadata: { n: String(i) } },
        });
        expect(updated.status).toBe(200);
        for (const api of [other, writer]) {
          const seen = await read(api);
          expect({ api, name: seen.body.name, metadata: seen.body.metadata, etag: seen.headers.get('etag') }).toEqual({
            api,
            name: `portrait-${i}.png`,
            metadata: { n: String(i) },
            etag: updated.headers.get('etag'),
          });
        }

        expect(
          (await call(`${writer}/api/v2/assets/${asset.id}/grants`, { method: 'PUT', as, json: [{ subject: `user:${reader}`, access: 'read' }] })).status,
        ).toBe(200);
        expect((await read(other, asReader)).status).toBe(200);
        expect((await call(`${writer}/api/v2/assets/${asset.id}/grants`, { method: 'PUT', as, json: [] })).status).toBe(200);
        // Revoked on one replica: the other refuses at once, for the metadata and the bytes alike.
        expect((await read(other, asReader)).status).toBe(404);
        expect((await download(`${other}/api/v2/assets/${asset.id}/content`, {}, asReader)).status).toBe(404);

        expect((await call(`${writer}/api/v2/assets/${asset.id}`, { method: 'DELETE', as })).status).toBe(204);
        expect((await read(other)).status).toBe(404);
        expect((await download(`${other}/api/v2/assets/${asset.id}/content`, {}, as)).status).toBe(404);
        expect((await call(`${writer}/api/v2/assets/${asset.id}/restore`, { method: 'POST', as })).status).toBe(200);
        expect((await read(other)).body.is_deleted).toBe(false);

        const bytes = bytesOf(3000 + i);
        const version = await postForm(`${writer}/api/v2/assets/${asset.id}/versions`, bytes, {}, 'next.png');
        expect(version.status).toBe(201);
        for (const api of [other, writer]) {
          const seen = await read(api);
          expect({ current: seen.body.current_version_id, size: seen.body.size_bytes }).toEqual({ current: version.body.id, size: bytes.length });
          const content = await download(`${api}/api/v2/assets/${asset.id}/content`, {}, as);
          expect({ status: content.status, sha256: sha256(content.body) }).toEqual({ status: 200, sha256: sha256(bytes) });
        }
      }
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    const counts = await cacheCounts(a);
    expect(counts['asset/hit']).toBeGreaterThan(0);
    expect(counts['content/hit']).toBeGreaterThan(0);
  }, 180_000);
});

describe('content hits', () => {
  it('serve the same bytes, ranges and conditional answers as S3', async () => {
    const owner = user();
    const as = await tokenFor({ sub: owner });
    const file = bytesOf(64 * 1024);
    const asset = await newAsset(owner, file);
    const url = `${a}/api/v2/assets/${asset.id}/content`;
    const first = await download(url, {}, as);
    expect(sha256(first.body)).toBe(sha256(file));
    // Kept once the first body ended: the next whole GET is a hit.
    const before = await waitUntil('the bytes to be kept', async () => {
      const counts = await cacheCounts(a);
      await download(url, {}, as);
      const after = await cacheCounts(a);
      return (after['content/hit'] ?? 0) > (counts['content/hit'] ?? 0) && after;
    });

    const whole = await download(url, {}, as);
    expect({ status: whole.status, sha256: sha256(whole.body), length: whole.headers.get('content-length') }).toEqual({
      status: 200,
      sha256: sha256(file),
      length: String(file.length),
    });
    expect(whole.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(whole.headers.get('last-modified')).toBe(first.headers.get('last-modified'));
    expect(whole.headers.get('content-disposition')).toBe(first.headers.get('content-disposition'));

    const ranged = async (range: string) => download(url, { range }, as);
    const middle = await ranged('bytes=100-1123');
    expect({ status: middle.status, range: middle.headers.get('content-range'), equal: middle.body.equals(file.subarray(100, 1124)) }).toEqual({
      status: 206,
      range: `bytes 100-1123/${file.length}`,
      equal: true,
    });
    const suffix = await ranged('bytes=-500');
    expect({ status: suffix.status, equal: suffix.body.equals(file.subarray(file.length - 500)) }).toEqual({ status: 206, equal: true });
    const tail = await ranged(`bytes=${file.length - 10}-`);
    expect({ status: tail.status, equal: tail.body.equals(file.subarray(file.length - 10)) }).toEqual({ status: 206, equal: true });
    expect((await ranged(`bytes=${file.length}-`)).status).toBe(416);
    expect((await download(url, { 'if-none-match': `"${sha256(file)}"` }, as)).status).toBe(304);

    const after = await cacheCounts(a);
    // The whole GET and the three ranges came from Redis; the 416 and the 304 never ask for bytes.
    expect(after['content/hit'] - before['content/hit']).toBe(4);
    expect(after['content/miss'] ?? 0).toBe(before['content/miss'] ?? 0);
  }, 60_000);
});

describe('an API whose Redis goes away', () => {
  it('answers every request from PostgreSQL and S3, reports degraded, and serves nothing stale once Redis is back', async () => {
    const owner = user();
    const as = await tokenFor({ sub: owner });
    const asset = await newAsset(owner, bytesOf(2000));
    const read = () => call(`${c}/api/v2/assets/${asset.id}`, { as });
    await waitUntil('Redis to be up for the proxied API', async () => (await call(`${c}/health`)).body.checks.redis?.status === 'ok');
    const load = getLoad([c], asset.id, as);
    try {
      await waitUntil('the proxied API to hit its cache', async () => (await cacheCounts(c))['asset/hit'] > 0);
      proxy.down();
      const health = await waitUntil('/health to be degraded', async () => {
        const res = await call(`${c}/health`);
        return res.body.status === 'degraded' && res;
      });
      expect(health.body.checks.redis.status).toBe('down');
      await waitUntil('reads to go around the cache', async () => {
        const before = (await cacheCounts(c))['asset/bypass'] ?? 0;
        await read();
        return ((await cacheCounts(c))['asset/bypass'] ?? 0) > before;
      });

      // Its invalidation cannot reach Redis, which still holds the entry from before the write.
      const updated = await call(`${c}/api/v2/assets/${asset.id}`, { method: 'PUT', as, json: { name: 'during-outage.png' } });
      expect(updated.status).toBe(200);
      expect((await read()).body.name).toBe('during-outage.png');

      proxy.up();
      await waitUntil('Redis to be back', async () => (await call(`${c}/health`)).body.status === 'ok');
      const hitsBefore = (await cacheCounts(c))['asset/hit'];
      await waitUntil('the cache to be used again', async () => {
        const seen = await read();
        expect(seen.body.name).toBe('during-outage.png');
        return (await cacheCounts(c))['asset/hit'] > hitsBefore;
      });
    } finally {
      proxy.up();
      await load.stop();
    }
    expect(load.failures).toEqual([]);
  }, 120_000);
});
