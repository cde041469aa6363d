/**
 * Rate limits over HTTP: the 429 and its headers, the separate budgets of reads, writes and content
 * bytes, the larger budgets of admins and services, the budget of a client without a token; then two
 * API processes sharing one budget in Redis, and an API whose Redis goes away.
 */
import { uuidv7 } from '../lib/platform/ids';
import { freePorts } from '../scripts/stack';
import { bytesOf, download, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { startTestService, type TestContext } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
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

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService(BUDGETS);
});
afterAll(async () => {
  await ctx?.stop();
});

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

  it('counts content bytes on their own: an upload its length before, a download its bytes after', async () => {
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
    const first = await download(url, {}, as);
    expect(sha256(first.body)).toBe(sha256(file));
    expect(stateOf(first).content.r).toBe(afterUpload.content.r);
    // The download's 3500 bytes spent what was left: the next one is refused, metadata is still read.
    await waitUntil('the download to be counted', async () => (await download(url, {}, as)).status === 429);
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
