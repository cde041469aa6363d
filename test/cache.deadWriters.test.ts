/**
 * The asset cache when a writer does not live to invalidate (issue 26, finding 11), against real
 * Redis and PostgreSQL: a commit made by a process that dies before its `invalidate`, and a writer
 * that answered its write while it had lost Redis and was then killed and started again. The
 * revoked grantee and the deleted asset are refused at once, by every API reading the cache.
 */
import { NO_AUDIT } from '../lib/audit/log';
import { softDeleteAsset } from '../lib/assets/assets';
import { replaceGrants } from '../lib/assets/grantChange';
import { deleteAssetRow } from '../lib/assets/store';
import { uuidv7 } from '../lib/platform/ids';
import { createRedisClient } from '../lib/platform/redis';
import { freePorts } from '../scripts/stack';
import { bytesOf, download, postForm } from './support/assets';
import { tokenFor } from './support/auth';
import { useTestService } from './support/context';
import { call } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

const REDIS_URL = 'redis://127.0.0.1:6379';
// Every API of this file shares one cache; no other test's keys are touched.
const PREFIX = `test-cache-dead-${uuidv7()}`;
const SERVICE = { STORAGE_REDIS_URL: REDIS_URL, STORAGE_REDIS_PREFIX: PREFIX, STORAGE_RATE_LIMITS: 'off' };

const ctx = useTestService(SERVICE);
let proxy: TcpProxy;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  proxy = await startTcpProxy(6379);
});
afterAll(async () => {
  await Promise.all(running.map((p) => p.kill()));
  await proxy?.close();
  const redis = createRedisClient(REDIS_URL);
  await waitUntil('Redis to answer', async () => redis.status === 'ready');
  const keys = await redis.keys(`${PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** An API process of its own, reaching Redis through the proxy the test can stop. */
async function startProxiedApi(): Promise<{ url: string; process: ServiceProcess }> {
  const [port] = await freePorts(1);
  const env = envFor(ctx.config, { ...SERVICE, STORAGE_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, STORAGE_PORT: String(port) });
  const api = spawnService('api/server.ts', env);
  running.push(api);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('the API to listen', async () => (await fetch(`${url}/health/live`).catch(() => undefined))?.ok, 60_000);
  return { url, process: api };
}

const user = () => `user-${uuidv7().slice(-12)}`;

async function assetHits(api: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  return Number(/^storage_cache_requests_total\{cache="asset",result="hit"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** An asset of `owner` that `reader` may read, and read by them from `api`'s cache (a hit seen). */
async function grantedAndCached(api: string, owner: string, reader: string, asReader: string): Promise<string> {
  const created = await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, bytesOf(3000), { name: 'ledger.png', owner_id: owner });
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  const as = await tokenFor({ sub: owner });
  const granted = await call(`${ctx.baseUrl}/api/v2/assets/${id}/grants`, { method: 'PUT', as, json: [{ subject: `user:${reader}`, access: 'read' }] });
  expect(granted.status).toBe(200);
  await waitUntil('the grantee to be served from the cache', async () => {
    const before = await assetHits(api);
    expect((await call(`${api}/api/v2/assets/${id}`, { as: asReader })).status).toBe(200);
    return (await assetHits(api)) > before;
  });
  return id;
}

describe('a writer that dies between its commit and its invalidation', () => {
  // What a process killed right after its commit leaves: the domain functions' commits, without
  // the routes' `invalidate` that would have followed.
  it('leaves neither a revoked grant nor a deleted asset servable from the cache', async () => {
    const [owner, reader] = [user(), user()];
    const [as, asReader] = await Promise.all([tokenFor({ sub: owner }), tokenFor({ sub: reader })]);

    const revoked = await grantedAndCached(ctx.baseUrl, owner, reader, asReader);
    await replaceGrants(ctx.db, revoked, [], undefined, NO_AUDIT);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${revoked}`, { as: asReader })).status).toBe(404);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${revoked}/content`, {}, asReader)).status).toBe(404);
    // The owner still reads it, from the cache again once refilled.
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${revoked}`, { as })).body.grants).toEqual([]);

    const deleted = await grantedAndCached(ctx.baseUrl, owner, reader, asReader);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${deleted}`, { as })).status).toBe(200);
    await softDeleteAsset(ctx.db, deleted, NO_AUDIT);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${deleted}`, { as })).status).toBe(404);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${deleted}/content`, {}, as)).status).toBe(404);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${deleted}`, { as: asReader })).status).toBe(404);

    const purged = await grantedAndCached(ctx.baseUrl, owner, reader, asReader);
    await ctx.db.transaction((trx) => deleteAssetRow(trx, purged));
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${purged}?include_deleted=true`, { as })).status).toBe(404);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${purged}`, { as: asReader })).status).toBe(404);
  }, 60_000);
});

describe('a writer that lost Redis, answered its revocation, and was killed', () => {
  it('leaves nothing stale, neither on the replicas nor in the process started again in its place', async () => {
    const [owner, reader] = [user(), user()];
    const [as, asReader] = await Promise.all([tokenFor({ sub: owner }), tokenFor({ sub: reader })]);
    const writer = await startProxiedApi();
    const id = await grantedAndCached(ctx.baseUrl, owner, reader, asReader);

    proxy.down();
    try {
      await waitUntil('the writer to see Redis down', async () => (await call(`${writer.url}/health`)).body.checks.redis?.status === 'down');
      // Acknowledged: its invalidation could not reach Redis, and it dies before it could tell anyone.
      expect((await call(`${writer.url}/api/v2/assets/${id}/grants`, { method: 'PUT', as, json: [] })).status).toBe(200);
      await writer.process.kill();
    } finally {
      proxy.up();
    }

    const restarted = await startProxiedApi();
    await waitUntil('the restarted API to reach Redis', async () => (await call(`${restarted.url}/health`)).body.checks.redis?.status === 'ok');
    for (const api of [restarted.url, ctx.baseUrl]) {
      expect({ api, status: (await call(`${api}/api/v2/assets/${id}`, { as: asReader })).status }).toEqual({ api, status: 404 });
      expect({ api, status: (await download(`${api}/api/v2/assets/${id}/content`, {}, asReader)).status }).toEqual({ api, status: 404 });
    }
    // The cache is in use again in the restarted process: the owner's reads hit.
    await waitUntil('the restarted API to hit its cache', async () => {
      const before = await assetHits(restarted.url);
      expect((await call(`${restarted.url}/api/v2/assets/${id}`, { as })).status).toBe(200);
      return (await assetHits(restarted.url)) > before;
    });
  }, 120_000);
});
