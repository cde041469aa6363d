/**
 * Downloads straight from the store, over HTTP against the real SeaweedFS (objects written with
 * SSE-S3): a 307 to a presigned GET whose expiry is the configured one, followed to the same bytes
 * with the content type and disposition the API would send; Range through it; access checked
 * first; signed URLs likewise; the automatic redirect from a size on, which `storage download`
 * follows; and what stays with the API (HEAD, a matching conditional GET, Range with If-Range, a
 * range past the end).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bytesOf, sha256 } from './support/assets';
import { adminToken, bearer, tokenFor } from './support/auth';
import { addAsset, uniqueMarker } from './support/catalog';
import { cliEnv, storage, type CliEnv } from './support/cli';
import { downloadStateFileOf, writeState } from '../cli/resumeState';
import { useTestService, serveWith } from './support/context';
import { call, expectProblem } from './support/http';
import { startS3Proxy } from './support/s3Proxy';
import { waitUntil } from './support/processes';

const TTL_SECONDS = 120;
const NON_ASCII_NAME = 'Zoë – ドラゴン.png';

const ctx = useTestService({ STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS: String(TTL_SECONDS) });

/** One request, answered as it comes: a 307 is not followed. */
async function ask(url: string, headers: Record<string, string> = {}, opts: { token?: string | null; method?: string } = {}) {
  const auth = opts.token === null ? {} : await bearer(opts.token);
  const res = await fetch(url, { method: opts.method ?? 'GET', redirect: 'manual', headers: { ...auth, ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** As a client that follows redirects (fetch's default): the bearer token stays with the API's origin. */
async function follow(url: string, headers: Record<string, string> = {}, token?: string | null) {
  const auth = token === null ? {} : await bearer(token);
  const res = await fetch(url, { headers: { ...auth, ...headers } });
  return { status: res.status, url: res.url, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

function filenameStarOf(header: string | null): string | undefined {
  const match = /filename\*=UTF-8''([^;]+)/i.exec(header ?? '');
  return match ? decodeURIComponent(match[1]) : undefined;
}

/** `write` with the CLI's cache where `env` puts it (XDG_CACHE_HOME), as the bin sees it. */
function inCache(env: CliEnv, write: () => void): void {
  const before = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = env.cache;
  try {
    write();
  } finally {
    if (before === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = before;
  }
}

describe('?redirect=true', () => {
  const file = bytesOf(100_000);
  let alice: string;
  let asset: { id: string; current_version_id: string };
  let contentUrl: string;

  beforeAll(async () => {
    const owner = uniqueMarker('alice');
    alice = await tokenFor({ sub: owner });
    asset = (await addAsset(ctx.baseUrl, file, { name: NON_ASCII_NAME, content_type: 'image/png', owner_id: owner })).body;
    contentUrl = `${ctx.baseUrl}/api/v2/assets/${asset.id}/content`;
  });

  it('answers 307 to a presigned GET on the store, private and not to be stored, expiring as configured', async () => {
    const res = await ask(`${contentUrl}?redirect=true`, {}, { token: alice });
    expect(res.status).toBe(307);
    expect(res.body.length).toBe(0);
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(new URL(ctx.config.s3.endpoint).origin);
    expect(location.pathname).toMatch(new RegExp(`^/${ctx.config.s3.bucket}/`));
    expect(location.searchParams.get('X-Amz-Expires')).toBe(String(TTL_SECONDS));
    const signedAt = location.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    expect(Math.abs(Date.parse(signedAt) - Date.now())).toBeLessThan(60_000);
    expect(location.searchParams.get('response-content-type')).toBe('image/png');
    expect(location.searchParams.get('response-content-disposition')).toMatch(/^inline;/);
  });

  it('followed, gives the same bytes from the store with the Content-Type and Content-Disposition the API sends', async () => {
    const got = await follow(`${contentUrl}?redirect=true`, {}, alice);
    expect(got.status).toBe(200);
    expect(new URL(got.url).origin).toBe(new URL(ctx.config.s3.endpoint).origin);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(got.headers.get('content-type')).toBe('image/png');
    const streamed = await follow(contentUrl, {}, alice);
    expect(streamed.url).toBe(contentUrl);
    expect(got.headers.get('content-disposition')).toBe(streamed.headers.get('content-disposition'));
    expect(filenameStarOf(got.headers.get('content-disposition'))).toBe(NON_ASCII_NAME);
  });

  it('Range goes through the redirect: 206 with that slice', async () => {
    const got = await follow(`${contentUrl}?redirect=true`, { Range: 'bytes=1000-1999' }, alice);
    expect(got.status).toBe(206);
    expect(got.headers.get('content-range')).toBe(`bytes 1000-1999/${file.length}`);
    expect(got.body.equals(file.subarray(1000, 2000))).toBe(true);
    const suffix = await follow(`${contentUrl}?redirect=true`, { Range: 'bytes=-10' }, alice);
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(file.subarray(file.length - 10))).toBe(true);
  });

  it("the version's content route redirects the same way", async () => {
    const url = `${ctx.baseUrl}/api/v2/assets/${asset.id}/versions/${asset.current_version_id}/content?redirect=true`;
    expect((await ask(url, {}, { token: alice })).status).toBe(307);
    expect(sha256((await follow(url, {}, alice)).body)).toBe(sha256(file));
  });

  it('another user gets the same 404 as without it, and no Location', async () => {
    const mallory = await tokenFor({ sub: uniqueMarker('mallory') });
    for (const url of [`${contentUrl}?redirect=true`, `${ctx.baseUrl}/api/v2/assets/${asset.id}/versions/${asset.current_version_id}/content?redirect=true`]) {
      const res = await call(url, { as: mallory, redirect: 'manual' });
      expectProblem(res, 404);
      expect(res.headers.get('location')).toBeNull();
    }
    const anonymous = await ask(`${contentUrl}?redirect=true`, {}, { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('location')).toBeNull();
  });

  it("an admin's redirect to another owner's content is audited as a read", async () => {
    const requestId = uniqueMarker('redirect-read');
    expect((await ask(`${contentUrl}?redirect=true`, { 'X-Request-Id': requestId })).status).toBe(307);
    const row = await waitUntil('the audit row of the read', () => ctx.db('audit_log').where({ request_id: requestId }).first());
    expect(row).toMatchObject({ action: 'asset.read_content', outcome: '307' });
  });

  it('HEAD answers the headers from the API, as without it', async () => {
    const res = await ask(`${contentUrl}?redirect=true`, {}, { token: alice, method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-length')).toBe(String(file.length));
    expect(res.headers.get('etag')).toBe(`"${sha256(file)}"`);
  });

  it('a conditional GET that matches is 304 from the API; one that does not is redirected', async () => {
    const etag = `"${sha256(file)}"`;
    const same = await ask(`${contentUrl}?redirect=true`, { 'If-None-Match': etag }, { token: alice });
    expect(same.status).toBe(304);
    expect(same.headers.get('location')).toBeNull();
    const lastModified = same.headers.get('last-modified')!;
    expect((await ask(`${contentUrl}?redirect=true`, { 'If-Modified-Since': lastModified }, { token: alice })).status).toBe(304);
    expect((await ask(`${contentUrl}?redirect=true`, { 'If-None-Match': `"${'0'.repeat(64)}"` }, { token: alice })).status).toBe(307);
  });

  it('Range with If-Range is streamed by the API (the store would not know the SHA-256 ETag); past the end is 416', async () => {
    const resumed = await ask(`${contentUrl}?redirect=true`, { Range: 'bytes=10-19', 'If-Range': `"${sha256(file)}"` }, { token: alice });
    expect(resumed.status).toBe(206);
    expect(resumed.body.equals(file.subarray(10, 20))).toBe(true);
    const past = await call(`${contentUrl}?redirect=true`, { as: alice, headers: { Range: `bytes=${file.length}-` }, redirect: 'manual' });
    expectProblem(past, 416);
  });

  it.each(['yes', '1', 'TRUE', ''])('redirect=%j is a 400 problem', async (value) => {
    const res = await call(`${contentUrl}?redirect=${value}`, { as: alice, redirect: 'manual' });
    expectProblem(res, 400);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: 'redirect' })]);
  });

  it('counts what it redirected in storage_downloads_redirected_total', async () => {
    const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
    expect(Number(/^storage_downloads_redirected_total\{reason="asked"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
  });
});

describe('a signed URL', () => {
  const file = bytesOf(5000);
  let asset: { id: string };

  beforeAll(async () => {
    asset = (await addAsset(ctx.baseUrl, file, { name: 'handout.pdf', content_type: 'application/pdf' })).body;
  });

  it('redirects the same way, as an attachment when signed so, without a token', async () => {
    const signed = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, { method: 'POST', json: { download: 'Zoë.pdf' } });
    expect(signed.status).toBe(200);
    const url = `${ctx.baseUrl}${signed.body.url}&redirect=true`;
    const res = await ask(url, {}, { token: null });
    expect(res.status).toBe(307);
    expect(new URL(res.headers.get('location')!).searchParams.get('X-Amz-Expires')).toBe(String(TTL_SECONDS));
    const got = await follow(url, {}, null);
    expect(got.status).toBe(200);
    expect(got.body.equals(file)).toBe(true);
    expect(got.headers.get('content-type')).toBe('application/pdf');
    expect(got.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(filenameStarOf(got.headers.get('content-disposition'))).toBe('Zoë.pdf');
    const ranged = await follow(url, { Range: 'bytes=0-99' }, null);
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(file.subarray(0, 100))).toBe(true);
  });

  it('is checked first: a changed signature is 403 with no Location; a bad redirect value is 400', async () => {
    const signed = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, { method: 'POST', json: {} });
    const tampered = signed.body.url.replace(/sig=./, (m: string) => (m.endsWith('A') ? 'sig=B' : 'sig=A'));
    const refused = await call(`${ctx.baseUrl}${tampered}&redirect=true`, { as: null, redirect: 'manual' });
    expectProblem(refused, 403);
    expect(refused.headers.get('location')).toBeNull();
    expectProblem(await call(`${ctx.baseUrl}${signed.body.url}&redirect=maybe`, { as: null, redirect: 'manual' }), 400);
  });
});

describe('STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES', () => {
  const MIN = 4096;
  let service: { baseUrl: string; close(): Promise<void> };
  let small: { id: string };
  let large: { id: string };
  const largeFile = bytesOf(MIN);

  beforeAll(async () => {
    service = await serveWith(ctx, (config) => ({ ...config, downloadRedirects: { ...config.downloadRedirects, minBytes: MIN } }));
    small = (await addAsset(ctx.baseUrl, bytesOf(MIN - 1))).body;
    large = (await addAsset(ctx.baseUrl, largeFile)).body;
  });
  afterAll(() => service?.close());
  const redirectedBySize = async () => {
    const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
    return Number(/^storage_downloads_redirected_total\{reason="size"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };

  it('redirects an object of at least that size on its own, and streams a smaller one', async () => {
    expect((await ask(`${service.baseUrl}/api/v2/assets/${small.id}/content`)).status).toBe(200);
    expect((await ask(`${service.baseUrl}/api/v2/assets/${large.id}/content`)).status).toBe(307);
    const got = await follow(`${service.baseUrl}/api/v2/assets/${large.id}/content`);
    expect(got.body.equals(largeFile)).toBe(true);
    // Asked for, a small one is redirected too.
    expect((await ask(`${service.baseUrl}/api/v2/assets/${small.id}/content?redirect=true`)).status).toBe(307);
  });

  it('redirect=false streams whatever the size', async () => {
    const got = await ask(`${service.baseUrl}/api/v2/assets/${large.id}/content?redirect=false`);
    expect(got.status).toBe(200);
    expect(got.body.equals(largeFile)).toBe(true);
    expect(got.headers.get('etag')).toBe(`"${sha256(largeFile)}"`);
  });

  it('counts those as reason="size"', async () => {
    expect(await redirectedBySize()).toBeGreaterThanOrEqual(2);
  });

  it('`storage download` follows the redirect, and resumes through the API, verified both times', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-redirect-'));
    const env = cliEnv(service.baseUrl, await adminToken());
    try {
      const out = path.join(dir, 'large.bin');
      const before = await redirectedBySize();
      const fresh = await storage(env, ['download', large.id, '-o', out, '--json']);
      expect(fresh.code).toBe(0);
      expect(fresh.json()).toMatchObject({ resumed_from: 0, verified: true });
      expect(await redirectedBySize()).toBe(before + 1);

      // As a download cut short leaves it: its first bytes in the part file beside the name, and the
      // resume state (in the CLI's cache) that says whose bytes they are.
      fs.rmSync(out);
      const part = `${out}.part`;
      fs.writeFileSync(part, largeFile.subarray(0, 1000));
      const state = { asset_id: large.id, version_id: fresh.json().version_id, etag: `"${sha256(largeFile)}"`, size_bytes: largeFile.length };
      inCache(env, () => writeState(downloadStateFileOf(part), state));
      const resumed = await storage(env, ['download', large.id, '-o', out, '--json']);
      expect(resumed.json()).toMatchObject({ resumed_from: 1000, verified: true });
      expect(fs.readFileSync(out).equals(largeFile)).toBe(true);
      expect(await redirectedBySize()).toBe(before + 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(env.cache, { recursive: true, force: true });
    }
  });

  it('without the setting, nothing is redirected unasked', async () => {
    expect((await ask(`${ctx.baseUrl}/api/v2/assets/${large.id}/content`)).status).toBe(200);
  });
});

describe('STORAGE_S3_PUBLIC_ENDPOINT_URL', () => {
  it('is the endpoint the redirect is signed against; the store takes it, and never sees the bearer token', async () => {
    // The same SeaweedFS at another address, as a client outside the API's network would reach it.
    const store = await startS3Proxy(ctx.config.s3.endpoint);
    const service = await serveWith(ctx, (config) => ({ ...config, s3: { ...config.s3, publicEndpoint: store.url } }));
    try {
      const file = bytesOf(2000);
      const asset = (await addAsset(ctx.baseUrl, file)).body;
      const url = `${service.baseUrl}/api/v2/assets/${asset.id}/content?redirect=true`;
      expect(new URL((await ask(url)).headers.get('location')!).origin).toBe(store.url);
      const got = await follow(url);
      expect(got.status).toBe(200);
      expect(got.body.equals(file)).toBe(true);
      expect(store.requests).toEqual([expect.objectContaining({ method: 'GET', path: expect.stringMatching(/X-Amz-Signature=/), authorization: undefined })]);
    } finally {
      await service.close();
      await store.close();
    }
  });
});

describe('the content rate limit', () => {
  it('charges a redirect what it hands out before it answers, so a spent budget refuses the next one', async () => {
    const file = bytesOf(3000);
    const owner = uniqueMarker('reader');
    const user = await tokenFor({ sub: owner });
    const asset = (await addAsset(ctx.baseUrl, file, { owner_id: owner })).body;
    const service = await serveWith(ctx, (config) => ({
      ...config,
      rateLimits: { ...config.rateLimits, keyPrefix: uniqueMarker('redirect'), standard: { ...config.rateLimits.standard, content: 3000 } },
    }));
    try {
      const url = `${service.baseUrl}/api/v2/assets/${asset.id}/content?redirect=true`;
      const first = await ask(url, {}, { token: user });
      expect(first.status).toBe(307);
      // Spent before the 307 goes: the API never learns how much of it the client fetches.
      expect(first.headers.get('ratelimit')).toMatch(/"content";r=0/);
      const refused = await call(url, { as: user, redirect: 'manual' });
      expectProblem(refused, 429);
      expect(refused.headers.get('location')).toBeNull();
    } finally {
      await service.close();
    }
  });
});
