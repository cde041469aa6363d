/**
 * Signed content URLs over HTTP: signed by a caller who may read the asset, used with no token at
 * all, as content is (HEAD, Range, conditional GET); refused when any bound part is changed, once
 * expired, or after its key is retired; and 404 once the asset is gone.
 */
import { randomBytes } from 'node:crypto';
import { signedUrlOf } from '../api/routes/signedUrls';
import { signContent } from '../lib/auth/urlSignatures';
import { bytesOf, download, sha256 } from './support/assets';
import { addAsset, addVersion, uniqueMarker } from './support/catalog';
import { useTestService, serveWith } from './support/context';
import { call, expectProblem } from './support/http';
import { tokenFor } from './support/auth';
import { waitUntil } from './support/processes';

const ctx = useTestService();

async function sign(baseUrl: string, assetId: string, body: Record<string, unknown> = {}): Promise<{ url: string; expires_at: string }> {
  const res = await call(`${baseUrl}/api/v2/assets/${assetId}/url`, { method: 'POST', json: body });
  expect(res.status).toBe(200);
  return res.body;
}

/** Fetched as an `<img src>` would: no token. */
const anonymous = (url: string, headers: Record<string, string> = {}) => download(url, headers, null);

function filenameStarOf(header: string | null): string | undefined {
  const match = /filename\*=UTF-8''([^;]+)/i.exec(header ?? '');
  return match ? decodeURIComponent(match[1]) : undefined;
}

describe('a signed URL of the current version', () => {
  const file = bytesOf(1000);
  let asset: { id: string; current_version_id: string };
  let signed: { url: string; expires_at: string };

  beforeAll(async () => {
    asset = (await addAsset(ctx.baseUrl, file, { name: uniqueMarker('map') + '.png', content_type: 'image/png' })).body;
    signed = await sign(ctx.baseUrl, asset.id);
  });

  it('answers a path under /api/v2/signed and an expiry an hour ahead by default', () => {
    expect(signed.url).toMatch(new RegExp(`^/api/v2/signed/assets/${asset.id}/content\\?`));
    const ahead = Date.parse(signed.expires_at) - Date.now();
    expect(ahead).toBeGreaterThan(3590_000);
    expect(ahead).toBeLessThanOrEqual(3600_000);
  });

  it('GET without a token gives the bytes, inline, with the content headers', async () => {
    const got = await anonymous(`${ctx.baseUrl}${signed.url}`);
    expect(got.status).toBe(200);
    expect(got.body.equals(file)).toBe(true);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(got.headers.get('content-disposition')).toMatch(/^inline;/);
  });

  it('HEAD without a token gives the headers and no body', async () => {
    const res = await fetch(`${ctx.baseUrl}${signed.url}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('1000');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('Range gives 206 with those bytes', async () => {
    const got = await anonymous(`${ctx.baseUrl}${signed.url}`, { Range: 'bytes=100-199' });
    expect(got.status).toBe(206);
    expect(got.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(got.body.equals(file.subarray(100, 200))).toBe(true);
  });

  it('If-None-Match with the ETag gives 304, and If-Modified-Since at Last-Modified too', async () => {
    const same = await anonymous(`${ctx.baseUrl}${signed.url}`, { 'If-None-Match': `"${sha256(file)}"` });
    expect(same.status).toBe(304);
    expect(same.body.length).toBe(0);
    const lastModified = same.headers.get('last-modified')!;
    expect((await anonymous(`${ctx.baseUrl}${signed.url}`, { 'If-Modified-Since': lastModified })).status).toBe(304);
  });

  it('signing needs a token, and an asset that exists', async () => {
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, { method: 'POST', json: {}, as: null })).status).toBe(401);
    const unknown = await call(`${ctx.baseUrl}/api/v2/assets/0190a000-0000-7000-8000-000000000000/url`, { method: 'POST', json: {} });
    expectProblem(unknown, 404);
    const unknownVersion = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, {
      method: 'POST',
      json: { version_id: '0190a000-0000-7000-8000-000000000000' },
    });
    expectProblem(unknownVersion, 404);
  });

  it('only a caller who may read the asset signs it: 404 for another user, 200 for one it is granted to', async () => {
    const url = `${ctx.baseUrl}/api/v2/assets/${asset.id}/url`;
    expectProblem(await call(url, { method: 'POST', json: {}, as: await tokenFor({ sub: 'mallory' }) }), 404);
    const grant = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/grants`, { method: 'PUT', json: [{ subject: 'group:campaign-42', access: 'read' }] });
    expect(grant.status).toBe(200);
    const granted = await call(url, { method: 'POST', json: {}, as: await tokenFor({ sub: 'bob', groups: ['campaign-42'] }) });
    expect(granted.status).toBe(200);
    expect((await anonymous(`${ctx.baseUrl}${granted.body.url}`)).status).toBe(200);

    // Permissions are checked again at every use: once the group's grant goes, so does its URL.
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/grants`, { method: 'PUT', json: [] })).status).toBe(200);
    const revoked = await call(`${ctx.baseUrl}${granted.body.url}`, { as: null });
    expectProblem(revoked, 403);
    expect(revoked.body.detail).toMatch(/may no longer read/);
    // The admin's own URL (signed in beforeAll) does not hang on a grant.
    expect((await anonymous(`${ctx.baseUrl}${signed.url}`)).status).toBe(200);
  });

  it.each([
    [{ expires_in: 604_801 }, 'expires_in'],
    [{ expires_in: 0 }, 'expires_in'],
    [{ expires_in: 1.5 }, 'expires_in'],
    [{ download: false }, 'download'],
    [{ download: 'a\nb' }, 'download'],
    [{ version_id: 'v1' }, 'version_id'],
    [{ color: 'red' }, 'body'],
  ])('refuses the body %j (400 at %s)', async (body, path) => {
    const res = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, { method: 'POST', json: body });
    expectProblem(res, 400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('takes seven days at most', async () => {
    const week = await sign(ctx.baseUrl, asset.id, { expires_in: 604_800 });
    expect(Math.round((Date.parse(week.expires_at) - Date.now()) / 1000)).toBeGreaterThan(604_790);
  });
});

describe('a changed signed URL', () => {
  let assetId: string;
  let otherAssetId: string;
  let v1: string;
  let v2: string;
  let pinned: URL;

  beforeAll(async () => {
    const asset = (await addAsset(ctx.baseUrl, bytesOf(100), { name: uniqueMarker('sheet') })).body;
    assetId = asset.id;
    v1 = asset.current_version_id;
    v2 = (await addVersion(ctx.baseUrl, assetId, bytesOf(120))).body.id;
    otherAssetId = (await addAsset(ctx.baseUrl, bytesOf(100), { name: uniqueMarker('other') })).body.id;
    pinned = new URL((await sign(ctx.baseUrl, assetId, { version_id: v1, download: 'sheet.pdf' })).url, ctx.baseUrl);
    expect((await anonymous(pinned.toString())).status).toBe(200);
  });

  const changed = (change: (url: URL) => void) => {
    const url = new URL(pinned);
    change(url);
    return url.toString();
  };
  const flipLast = (text: string) => text.slice(0, -1) + (text.endsWith('A') ? 'B' : 'A');

  it.each<[string, (url: URL) => void]>([
    ['another asset', (u) => (u.pathname = u.pathname.replace(assetId, otherAssetId))],
    ['another version', (u) => (u.pathname = u.pathname.replace(v1, v2))],
    ['the current version instead', (u) => (u.pathname = `/api/v2/signed/assets/${assetId}/content`)],
    ['an upper-case id', (u) => (u.pathname = u.pathname.replace(assetId, assetId.toUpperCase()))],
    ['inline instead of attachment', (u) => (u.searchParams.set('disposition', 'inline'), u.searchParams.delete('filename'))],
    ['another filename', (u) => u.searchParams.set('filename', 'sheet.exe')],
    ['no filename', (u) => u.searchParams.delete('filename')],
    ['a later expiry', (u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 1))],
    ['another signer', (u) => u.searchParams.set('by', 'owner:mallory')],
    ['no signer', (u) => u.searchParams.delete('by')],
    ['one character of the signature', (u) => u.searchParams.set('sig', flipLast(u.searchParams.get('sig')!))],
    ['no signature', (u) => u.searchParams.delete('sig')],
    ['a malformed id', (u) => (u.pathname = u.pathname.replace(assetId, 'not-a-uuid'))],
  ])('is refused (403) with %s', async (_what, change) => {
    const res = await call(changed(change), { as: null });
    expectProblem(res, 403);
    expect(res.body.detail).not.toMatch(/expired/);
  });
});

describe('what a signed URL serves', () => {
  it('a version-pinned URL serves that version after a newer one is uploaded; the current one follows', async () => {
    const first = bytesOf(300);
    const asset = (await addAsset(ctx.baseUrl, first, { name: uniqueMarker('portrait') })).body;
    const pinned = await sign(ctx.baseUrl, asset.id, { version_id: asset.current_version_id });
    const current = await sign(ctx.baseUrl, asset.id);
    const second = bytesOf(400);
    await addVersion(ctx.baseUrl, asset.id, second);
    expect((await anonymous(`${ctx.baseUrl}${pinned.url}`)).body.equals(first)).toBe(true);
    expect((await anonymous(`${ctx.baseUrl}${current.url}`)).body.equals(second)).toBe(true);
  });

  it('download: true is an attachment named after the asset; a string names it, non-ASCII and all', async () => {
    const name = `${uniqueMarker('Zoë')} – ドラゴン.png`;
    const asset = (await addAsset(ctx.baseUrl, bytesOf(50), { name })).body;
    const asAsset = await anonymous(`${ctx.baseUrl}${(await sign(ctx.baseUrl, asset.id, { download: true })).url}`);
    expect(asAsset.headers.get('content-disposition')).toMatch(/^attachment;/);
    expect(filenameStarOf(asAsset.headers.get('content-disposition'))).toBe(name);

    const chosen = "Strahd's journal – Бaрoвия (1).png";
    const named = await anonymous(`${ctx.baseUrl}${(await sign(ctx.baseUrl, asset.id, { download: chosen })).url}`);
    expect(named.status).toBe(200);
    const header = named.headers.get('content-disposition')!;
    expect(header).toMatch(/^attachment;/);
    expect(filenameStarOf(header)).toBe(chosen);
    expect(/filename="([^"]*)"/.exec(header)![1]).toMatch(/^[\x20-\x7e]+$/);
  });

  it('a URL of a soft-deleted or permanently deleted asset is 404, though an admin signed it', async () => {
    const soft = (await addAsset(ctx.baseUrl, bytesOf(10), { name: uniqueMarker('soft') })).body;
    const hard = (await addAsset(ctx.baseUrl, bytesOf(10), { name: uniqueMarker('hard') })).body;
    const softUrl = (await sign(ctx.baseUrl, soft.id)).url;
    const hardUrl = (await sign(ctx.baseUrl, hard.id, { version_id: hard.current_version_id })).url;

    expect((await call(`${ctx.baseUrl}/api/v2/assets/${soft.id}`, { method: 'DELETE' })).status).toBe(204);
    expectProblem(await call(`${ctx.baseUrl}${softUrl}`, { as: null }), 404);
    expectProblem(await call(`${ctx.baseUrl}/api/v2/assets/${soft.id}/url`, { method: 'POST', json: {} }), 404);

    expect([202, 204]).toContain((await call(`${ctx.baseUrl}/api/v2/assets/${hard.id}?permanent=true`, { method: 'DELETE' })).status);
    await waitUntil('the asset to be deleted', async () => (await call(`${ctx.baseUrl}/api/v2/assets/${hard.id}?include_deleted=true`)).status === 404);
    expectProblem(await call(`${ctx.baseUrl}${hardUrl}`, { as: null }), 404);
  });
});

describe('expiry and keys', () => {
  let assetId: string;
  beforeAll(async () => {
    assetId = (await addAsset(ctx.baseUrl, bytesOf(10), { name: uniqueMarker('exp') })).body.id;
  });

  it('an expired URL is 403, and the detail says it expired', async () => {
    const grant = { assetId, disposition: { type: 'inline' as const }, expires: Math.floor(Date.now() / 1000) - 1, signer: 'any' };
    const res = await call(`${ctx.baseUrl}${signedUrlOf(grant, signContent(ctx.config.urlSigningKeys, grant))}`, { as: null });
    expectProblem(res, 403);
    expect(res.body.detail).toMatch(/expired/);
  });

  it('a URL signed for one second works, then expires', async () => {
    const { url, expires_at } = await sign(ctx.baseUrl, assetId, { expires_in: 1 });
    const first = await call(`${ctx.baseUrl}${url}`, { as: null });
    // On a loaded machine the second may be over before the first fetch.
    if (Date.now() < Date.parse(expires_at)) expect(first.status).toBe(200);
    const refused = await waitUntil('the URL to expire', async () => {
      const res = await call(`${ctx.baseUrl}${url}`, { as: null });
      return res.status === 403 && res;
    });
    expect(refused.body.detail).toMatch(/expired/);
  });

  it('a URL signed with the old key works while the keys are [new, old], and is refused once old is removed', async () => {
    const oldKey = ctx.config.urlSigningKeys[0];
    const newKey = randomBytes(32).toString('base64url');
    const oldUrl = (await sign(ctx.baseUrl, assetId)).url;
    const rotating = await serveWith(ctx, (config) => ({ ...config, urlSigningKeys: [newKey, oldKey] }));
    const rotated = await serveWith(ctx, (config) => ({ ...config, urlSigningKeys: [newKey] }));
    try {
      expect((await anonymous(`${rotating.baseUrl}${oldUrl}`)).status).toBe(200);
      const newUrl = (await sign(rotating.baseUrl, assetId)).url;
      expect(newUrl).not.toBe(oldUrl);
      expect((await anonymous(`${rotated.baseUrl}${newUrl}`)).status).toBe(200);

      const refused = await call(`${rotated.baseUrl}${oldUrl}`, { as: null });
      expectProblem(refused, 403);
      expect(refused.body.detail).not.toMatch(/expired/);
    } finally {
      await rotating.close();
      await rotated.close();
    }
  });

  it('a service without keys signs nothing (501)', async () => {
    const keyless = await serveWith(ctx, (config) => ({ ...config, urlSigningKeys: [] }));
    try {
      expectProblem(await call(`${keyless.baseUrl}/api/v2/assets/${assetId}/url`, { method: 'POST', json: {} }), 501);
    } finally {
      await keyless.close();
    }
  });
});
