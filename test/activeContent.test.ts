/**
 * Stored active content never renders on the API's origin (issue 23, item 3), over HTTP on every path
 * that serves content: the asset's content route (GET and HEAD), a version's, a signed URL's, a hit of
 * the content cache, and the 307 to the store followed to SeaweedFS itself. An HTML and an SVG asset
 * come as attachments, sandboxed, never sniffed; a PNG and plain text (with a charset) render inline,
 * sandboxed too.
 */
import { uuidv7 } from '../lib/platform/ids';
import { createRedisClient } from '../lib/platform/redis';
import { sha256 } from './support/assets';
import { bearer } from './support/auth';
import { addAsset } from './support/catalog';
import { useTestService } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';

const REDIS_URL = 'redis://127.0.0.1:6379';
const PREFIX = `test-active-${uuidv7()}`;

// With Redis the small contents below are cached after their first read, and served from there.
const ctx = useTestService({ STORAGE_REDIS_URL: REDIS_URL, STORAGE_REDIS_PREFIX: PREFIX });
afterAll(async () => {
  const redis = createRedisClient(REDIS_URL);
  await waitUntil('Redis to answer', async () => redis.status === 'ready');
  const keys = await redis.keys(`${PREFIX}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const ACTIVE = [
  { label: 'HTML', name: 'page.html', type: 'text/html', bytes: Buffer.from('<!doctype html><script>fetch("/api/v2/assets")</script>') },
  {
    label: 'SVG',
    name: 'token.svg',
    type: 'image/svg+xml',
    bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/api/v2/assets")</script></svg>'),
  },
];
const PASSIVE = [
  { label: 'PNG', name: 'map.png', type: 'image/png', served: 'image/png', bytes: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex') },
  { label: 'plain text', name: 'notes.txt', type: 'text/plain', served: 'text/plain; charset=utf-8', bytes: Buffer.from('<script>no</script>') },
];

type Stored = { id: string; current_version_id: string };
const stored = new Map<string, Stored>();
beforeAll(async () => {
  for (const { label, name, type, bytes } of [...ACTIVE, ...PASSIVE]) {
    stored.set(label, (await addAsset(ctx.baseUrl, bytes, { name, content_type: type })).body);
  }
});

/** One request as the suite's admin (or without a token), answered as it comes: a 307 is not followed. */
async function ask(url: string, opts: { method?: string; token?: null; headers?: Record<string, string> } = {}) {
  const auth = opts.token === null ? {} : await bearer();
  const res = await fetch(url, { method: opts.method ?? 'GET', redirect: 'manual', headers: { ...auth, ...opts.headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function expectAttachment(headers: Headers, type: string, name: string) {
  expect(headers.get('content-disposition')).toBe(`attachment; filename="${name}"; filename*=UTF-8''${name}`);
  expect(headers.get('content-type')).toBe(type);
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(directivesOf(headers)).toEqual(["default-src 'none'", 'sandbox']);
}

function expectInline(headers: Headers, type: string) {
  expect(headers.get('content-disposition')).toMatch(/^inline;/);
  expect(headers.get('content-type')).toBe(type);
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(directivesOf(headers)).toEqual(['sandbox']);
}

function directivesOf(headers: Headers): string[] {
  return (headers.get('content-security-policy') ?? '')
    .split(';')
    .map((d) => d.trim())
    .filter(Boolean)
    .sort();
}

const contentUrl = (label: string) => `${ctx.baseUrl}/api/v2/assets/${stored.get(label)!.id}/content`;
const versionContentUrl = (label: string) => `${ctx.baseUrl}/api/v2/assets/${stored.get(label)!.id}/versions/${stored.get(label)!.current_version_id}/content`;

describe.each(ACTIVE)('an $label asset', ({ label, name, type, bytes }) => {
  it('is an attachment from the content route, sandboxed and never sniffed: GET, HEAD, 206 and 304 alike', async () => {
    for (const method of ['GET', 'HEAD']) {
      const res = await ask(`${contentUrl(label)}?redirect=false`, { method });
      expect({ method, status: res.status }).toEqual({ method, status: 200 });
      expectAttachment(res.headers, type, name);
    }
    const ranged = await ask(`${contentUrl(label)}?redirect=false`, { headers: { Range: 'bytes=0-9' } });
    expect(ranged.status).toBe(206);
    expectAttachment(ranged.headers, type, name);
    const unchanged = await ask(contentUrl(label), { headers: { 'If-None-Match': `"${sha256(bytes)}"` } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(directivesOf(unchanged.headers)).toContain('sandbox');
  });

  it("is an attachment from its version's content route", async () => {
    const res = await ask(versionContentUrl(label));
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
    expectAttachment(res.headers, type, name);
  });

  it('is an attachment through a signed URL, though the URL asks for it inline', async () => {
    const signed = await call(`${ctx.baseUrl}/api/v2/assets/${stored.get(label)!.id}/url`, { method: 'POST', json: {} });
    expect(signed.body.url).toMatch(/[?&]disposition=inline(&|$)/);
    const res = await ask(`${ctx.baseUrl}${signed.body.url}`, { token: null });
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
    expectAttachment(res.headers, type, name);
    const named = await call(`${ctx.baseUrl}/api/v2/assets/${stored.get(label)!.id}/url`, { method: 'POST', json: { download: 'x.html' } });
    expectAttachment((await ask(`${ctx.baseUrl}${named.body.url}`, { token: null })).headers, type, 'x.html');
  });

  it('is an attachment when the content cache serves it', async () => {
    const hit = await servedFromCache(contentUrl(label));
    expect(hit.body.equals(bytes)).toBe(true);
    expectAttachment(hit.headers, type, name);
  });

  it('is redirected with the same disposition and type, and the store serves it so: the 307 itself is nosniff', async () => {
    const res = await ask(`${contentUrl(label)}?redirect=true`);
    expect(res.status).toBe(307);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('response-content-disposition')).toMatch(/^attachment;/);
    expect(location.searchParams.get('response-content-type')).toBe(type);
    // The store, asked with the presigned URL alone (no token), as a browser would.
    const fromStore = await fetch(location);
    expect(fromStore.status).toBe(200);
    expect(Buffer.from(await fromStore.arrayBuffer()).equals(bytes)).toBe(true);
    expect(fromStore.headers.get('content-disposition')).toBe(location.searchParams.get('response-content-disposition'));
    expect(fromStore.headers.get('content-type')).toBe(type);
  });
});

describe.each(PASSIVE)('a $label asset', ({ label, served, bytes }) => {
  it('renders inline from the content route, sandboxed and never sniffed', async () => {
    const res = await ask(`${contentUrl(label)}?redirect=false`);
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
    expectInline(res.headers, served);
  });

  it('renders inline through a signed URL and from the cache', async () => {
    const signed = await call(`${ctx.baseUrl}/api/v2/assets/${stored.get(label)!.id}/url`, { method: 'POST', json: {} });
    expectInline((await ask(`${ctx.baseUrl}${signed.body.url}`, { token: null })).headers, served);
    expectInline((await servedFromCache(versionContentUrl(label))).headers, served);
  });

  it('is redirected inline with the type it is served with', async () => {
    const location = new URL((await ask(`${contentUrl(label)}?redirect=true`)).headers.get('location')!);
    expect(location.searchParams.get('response-content-disposition')).toMatch(/^inline;/);
    const fromStore = await fetch(location);
    expect(fromStore.headers.get('content-type')).toBe(served);
  });
});

/** content-cache hits of this API, from its metrics. */
async function contentHits(): Promise<number> {
  const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
  return Number(/^storage_cache_requests_total\{cache="content",result="hit"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** A GET answered from the content cache: asked again until one was (the first read keeps the bytes, a moment later). */
async function servedFromCache(url: string) {
  return waitUntil(`a content cache hit of ${url}`, async () => {
    const before = await contentHits();
    const res = await ask(url);
    return res.status === 200 && (await contentHits()) === before + 1 && res;
  });
}
