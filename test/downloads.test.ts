/**
 * GET and HEAD of an asset's (and a version's) bytes, end to end over HTTP: the headers caches and
 * clients rely on, byte ranges, conditional requests, empty files, a client that walks away
 * mid-download without costing the service its S3 connections, and S3 failing under a download.
 */
import { bearer } from './support/auth';
import { waitUntil } from './support/processes';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import type { Logger, LogLevel } from '../lib/platform/logger';
import { createS3Client } from '../lib/platform/s3Client';
import { S3_PART_SIZE } from '../lib/platform/staging';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { addAsset, addVersion, s3Agent, socketsInUse, uniqueMarker } from './support/catalog';
import { useTestService } from './support/context';
import { call } from './support/http';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

const MiB = 1024 * 1024;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const NON_ASCII_NAME = "Zoë's map – ドラゴン.png";

const ctx = useTestService();

/** The parameters of a Content-Disposition header (RFC 6266), `filename*` decoded per RFC 5987. */
function dispositionParams(header: string): { type: string; filename?: string; filenameStar?: string } {
  const [type, ...rest] = header.split(';');
  const out: { type: string; filename?: string; filenameStar?: string } = { type: type.trim() };
  // Quoted values may hold ';' in principle; the fallback the service writes never does.
  for (const part of rest) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (key === 'filename') out.filename = value.replace(/^"(.*)"$/, '$1').replace(/\\(.)/g, '$1');
    if (key === 'filename*') {
      const match = /^([^']*)'[^']*'(.*)$/.exec(value);
      if (!match) throw new Error(`filename* is not an RFC 5987 ext-value: ${value}`);
      expect(match[1].toUpperCase()).toBe('UTF-8');
      out.filenameStar = decodeURIComponent(match[2]);
    }
  }
  return out;
}

describe('an asset with a non-ASCII name', () => {
  const file = bytesOf(1000);
  let asset: { id: string; created_at: string; current_version_id: string };
  let contentUrl: string;

  beforeAll(async () => {
    const res = await addAsset(ctx.baseUrl, file, { name: NON_ASCII_NAME, content_type: 'image/png' });
    asset = res.body;
    contentUrl = `${ctx.baseUrl}/api/v2/assets/${asset.id}/content`;
  });

  it('GET serves the bytes with Content-Type, Content-Length, ETag, Last-Modified, Accept-Ranges', async () => {
    const got = await download(contentUrl);
    expect(got.status).toBe(200);
    expect(got.body.equals(file)).toBe(true);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-length')).toBe('1000');
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(got.headers.get('accept-ranges')).toBe('bytes');

    const versions = await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/versions`);
    expect(versions.status).toBe(200);
    const createdAt = new Date(versions.body.items[0].created_at);
    const lastModified = got.headers.get('last-modified');
    expect(lastModified).toBe(new Date(Math.floor(createdAt.getTime() / 1000) * 1000).toUTCString());
  });

  it('Content-Disposition carries the name: filename* decodes back to it, the plain filename is ASCII', async () => {
    const got = await download(contentUrl);
    const header = got.headers.get('content-disposition');
    expect(header).toBeTruthy();
    const params = dispositionParams(header!);
    expect(['inline', 'attachment']).toContain(params.type);
    expect(params.filenameStar).toBe(NON_ASCII_NAME);
    expect(params.filename).toBeDefined();
    expect(params.filename).toMatch(/^[\x20-\x7e]+$/);
    // The ASCII parts of the name survive in the fallback.
    expect(params.filename).toContain('map');
    expect(params.filename!.endsWith('.png')).toBe(true);
  });

  it('HEAD answers the same headers without a body', async () => {
    const res = await fetch(contentUrl, { method: 'HEAD', headers: await bearer() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-length')).toBe('1000');
    expect(res.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(dispositionParams(res.headers.get('content-disposition')!).filenameStar).toBe(NON_ASCII_NAME);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('HEAD with a Range answers 206 with the range headers and no body', async () => {
    const res = await fetch(contentUrl, { method: 'HEAD', headers: { ...(await bearer()), Range: 'bytes=0-99' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 0-99/1000');
    expect(res.headers.get('content-length')).toBe('100');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=100-', 100, 999],
    ['bytes=-50', 950, 999],
    ['bytes=990-5000', 990, 999],
  ])('Range %s gives 206 with those bytes and Content-Range', async (range, start, end) => {
    const got = await download(contentUrl, { Range: range });
    expect(got.status).toBe(206);
    expect(got.headers.get('content-range')).toBe(`bytes ${start}-${end}/1000`);
    expect(got.headers.get('content-length')).toBe(String(end - start + 1));
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(got.body.equals(file.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=1000-', 'bytes=5000-6000'])('Range %s past the end gives 416 with Content-Range: bytes */size', async (range) => {
    const got = await download(contentUrl, { Range: range });
    expect(got.status).toBe(416);
    expect(got.headers.get('content-range')).toBe('bytes */1000');
    expect(got.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('If-None-Match with the ETag gives 304 without a body; another ETag gives 200', async () => {
    const etag = `"${sha256(file)}"`;
    const same = await download(contentUrl, { 'If-None-Match': etag });
    expect(same.status).toBe(304);
    expect(same.body.length).toBe(0);
    expect(same.headers.get('etag')).toBe(etag);

    const listed = await download(contentUrl, { 'If-None-Match': `"0000", W/${etag}` });
    expect(listed.status).toBe(304);

    const other = await download(contentUrl, { 'If-None-Match': `"${sha256(Buffer.from('other'))}"` });
    expect(other.status).toBe(200);
    expect(other.body.equals(file)).toBe(true);
  });

  it('If-Modified-Since at Last-Modified gives 304, an earlier date gives 200', async () => {
    const head = await fetch(contentUrl, { method: 'HEAD', headers: await bearer() });
    const lastModified = head.headers.get('last-modified')!;
    expect((await download(contentUrl, { 'If-Modified-Since': lastModified })).status).toBe(304);
    const earlier = new Date(Date.parse(lastModified) - 3600_000).toUTCString();
    expect((await download(contentUrl, { 'If-Modified-Since': earlier })).status).toBe(200);
  });

  it('a soft-deleted asset has no content (404)', async () => {
    const other = await addAsset(ctx.baseUrl, bytesOf(10), { name: uniqueMarker('gone') });
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${other.body.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${other.body.id}/content`)).status).toBe(404);
  });

  it('unknown and malformed ids: 404 and 400', async () => {
    expect((await download(`${ctx.baseUrl}/api/v2/assets/0190a000-0000-7000-8000-000000000000/content`)).status).toBe(404);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/not-a-uuid/content`)).status).toBe(400);
  });
});

describe("a version's content", () => {
  const v1 = bytesOf(2000);
  const v2 = bytesOf(3000);
  let assetId: string;
  let v1Id: string;
  let v2Id: string;

  beforeAll(async () => {
    const first = await addAsset(ctx.baseUrl, v1, { name: 'Strahd.txt', content_type: 'text/plain' });
    assetId = first.body.id;
    v1Id = first.body.current_version_id;
    const second = await addVersion(ctx.baseUrl, assetId, v2, { name: 'Strahd.txt', content_type: 'application/pdf' });
    v2Id = second.body.id;
  });

  it('the asset serves the current version; each version serves its own bytes and headers', async () => {
    const current = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
    expect(current.status).toBe(200);
    expect(current.body.equals(v2)).toBe(true);
    expect(current.headers.get('content-type')).toBe('application/pdf');

    const old = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions/${v1Id}/content`);
    expect(old.status).toBe(200);
    expect(old.body.equals(v1)).toBe(true);
    expect(old.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(old.headers.get('content-length')).toBe('2000');
    expect(old.headers.get('etag')).toBe(`"${sha256(v1)}"`);
    expect(old.headers.get('accept-ranges')).toBe('bytes');
    expect(old.headers.get('last-modified')).toBeTruthy();
    expect(dispositionParams(old.headers.get('content-disposition')!).filenameStar).toBe('Strahd.txt');

    const newest = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions/${v2Id}/content`);
    expect(newest.body.equals(v2)).toBe(true);
    expect(newest.headers.get('etag')).toBe(`"${sha256(v2)}"`);
  });

  it('HEAD of a version gives its headers without a body', async () => {
    const res = await fetch(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions/${v1Id}/content`, { method: 'HEAD', headers: await bearer() });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('2000');
    expect(res.headers.get('etag')).toBe(`"${sha256(v1)}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('ranges, 416 and 304 work on a version too', async () => {
    const url = `${ctx.baseUrl}/api/v2/assets/${assetId}/versions/${v1Id}/content`;
    const head = await download(url, { Range: 'bytes=0-99' });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-range')).toBe('bytes 0-99/2000');
    expect(head.body.equals(v1.subarray(0, 100))).toBe(true);

    const tail = await download(url, { Range: 'bytes=100-' });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 100-1999/2000');
    expect(tail.body.equals(v1.subarray(100))).toBe(true);

    const suffix = await download(url, { Range: 'bytes=-50' });
    expect(suffix.status).toBe(206);
    expect(suffix.headers.get('content-range')).toBe('bytes 1950-1999/2000');
    expect(suffix.body.equals(v1.subarray(1950))).toBe(true);

    const past = await download(url, { Range: 'bytes=2000-' });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */2000');

    expect((await download(url, { 'If-None-Match': `"${sha256(v1)}"` })).status).toBe(304);
    // The current version's ETag is not this version's.
    expect((await download(url, { 'If-None-Match': `"${sha256(v2)}"` })).status).toBe(200);
  });

  it('a version of another asset, or an unknown version, is 404; a malformed one 400', async () => {
    const other = await addAsset(ctx.baseUrl, bytesOf(10), { name: 'other.bin' });
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${other.body.id}/versions/${v1Id}/content`)).status).toBe(404);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions/0190a000-0000-7000-8000-000000000000/content`)).status).toBe(404);
    expect((await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions/nope/content`)).status).toBe(400);
  });
});

describe('an empty file', () => {
  it('uploads (201, the checksum of empty input) and downloads as 0 bytes', async () => {
    const res = await uploadAsset(ctx.baseUrl, Buffer.alloc(0), { name: 'empty.txt', content_type: 'text/plain' });
    expect(res.status).toBe(201);
    expect(res.body.size_bytes).toBe(0);
    expect(res.body.checksum_sha256).toBe(EMPTY_SHA256);

    const url = `${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`;
    const got = await download(url);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(0);
    expect(got.headers.get('content-length')).toBe('0');
    expect(got.headers.get('etag')).toBe(`"${EMPTY_SHA256}"`);

    const head = await fetch(url, { method: 'HEAD', headers: await bearer() });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('0');

    // No byte can satisfy a range of an empty file.
    const range = await download(url, { Range: 'bytes=0-' });
    expect(range.status).toBe(416);
    expect(range.headers.get('content-range')).toBe('bytes */0');
  });

  it('an empty file can also be a new version', async () => {
    const first = await addAsset(ctx.baseUrl, bytesOf(100), { name: 'soon-empty.txt' });
    const version = await addVersion(ctx.baseUrl, first.body.id, Buffer.alloc(0));
    expect(version.body).toMatchObject({ version_number: 2, size_bytes: 0, checksum_sha256: EMPTY_SHA256, is_current: true });
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${first.body.id}/content`);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(0);
  });
});

/** Starts a GET (as the suite's admin), reads its first chunk of body, then destroys the socket. Answers the status seen. */
async function readFirstChunkThenHangUp(url: string, headers: Record<string, string> = {}): Promise<{ status: number; chunkBytes: number }> {
  const auth = await bearer();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { ...auth, ...headers } }, (res) => {
      res.once('data', (chunk: Buffer) => {
        resolve({ status: res.statusCode ?? 0, chunkBytes: chunk.length });
        req.destroy();
      });
      res.on('error', () => {});
      res.once('end', () => reject(new Error('the whole body arrived before the test could hang up')));
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
  });
}

describe('a client that disconnects mid-download', () => {
  const big = bytesOf(8 * MiB);
  let url: string;

  beforeAll(async () => {
    const res = await addAsset(ctx.baseUrl, big, { name: 'big.bin' });
    url = `${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`;
  }, 60_000);

  it('releases the S3 stream, and the API goes on serving downloads', async () => {
    // One full download first, so the S3 client's agent exists and is known good.
    const before = await download(url);
    expect(before.status).toBe(200);
    expect(sha256(before.body)).toBe(sha256(big));
    const agent = s3Agent(ctx);
    await waitUntil('the S3 agent to hold no socket', async () => socketsInUse(agent) === 0, 5_000, 50);

    for (let i = 0; i < 12; i++) {
      const seen = await readFirstChunkThenHangUp(url);
      expect(seen.status).toBe(200);
      expect(seen.chunkBytes).toBeGreaterThan(0);
    }
    // Also a few at once, one of them reading a range.
    const together = await Promise.all([
      readFirstChunkThenHangUp(url),
      readFirstChunkThenHangUp(url, { Range: `bytes=${MiB}-` }),
      readFirstChunkThenHangUp(url),
    ]);
    expect(together.map((s) => s.status)).toEqual([200, 206, 200]);

    // Every S3 response the hung-up downloads were reading is given back: a leaked stream would
    // hold its socket until the server closes it, and enough of them exhaust the agent.
    await waitUntil('every S3 socket to be given back', async () => socketsInUse(agent) === 0, 10_000, 50);

    const after = await Promise.all(Array.from({ length: 4 }, () => download(url)));
    for (const got of after) {
      expect(got.status).toBe(200);
      expect(got.body.length).toBe(big.length);
      expect(sha256(got.body)).toBe(sha256(big));
    }
    const small = await download(url, { Range: 'bytes=-10' });
    expect(small.status).toBe(206);
    expect(small.body.equals(big.subarray(big.length - 10))).toBe(true);
    expect((await call(`${ctx.baseUrl}/health/ready`)).status).toBe(200);
  }, 60_000);
});

describe("a name given only as the file part's filename", () => {
  it('keeps its non-ASCII characters (the name and Content-Disposition)', async () => {
    const res = await addAsset(ctx.baseUrl, bytesOf(10), {}, NON_ASCII_NAME);
    expect(res.body.name).toBe(NON_ASCII_NAME);
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`);
    expect(dispositionParams(got.headers.get('content-disposition')!).filenameStar).toBe(NON_ASCII_NAME);
  });
});

describe('a file larger than one staging part', () => {
  it("is stored as parts the store checked on receipt, and comes back byte for byte with the whole file's SHA-256", async () => {
    const file = bytesOf(2 * S3_PART_SIZE + 12_345);
    const res = await addAsset(ctx.baseUrl, file, { name: 'atlas.bin' });
    expect(res.body.checksum_sha256).toBe(sha256(file));
    const version = await ctx.db('asset_versions').where({ id: res.body.current_version_id }).first();
    const head = await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key, ChecksumMode: 'ENABLED' }));
    // A composite SHA-256 over 3 parts: each part was sent with its checksum and verified by the store.
    expect(head.ChecksumSHA256).toMatch(/^[A-Za-z0-9+/]{43}=-3$/);
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`);
    expect(got.body.equals(file)).toBe(true);
  });
});

interface LogLine {
  level: LogLevel;
  msg: string;
  [field: string]: unknown;
}

function recordingLogger(lines: LogLine[]): Logger {
  const at = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, ...fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

/** A GET (as the suite's admin) read to its end, or to the connection's end if it is cut first. */
async function readToEnd(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number; complete: boolean }> {
  const auth = await bearer();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: auth }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, complete: res.complete }));
    });
    req.on('error', reject);
  });
}

describe('S3 failing under a download', () => {
  const file = bytesOf(MiB);
  const logged: LogLine[] = [];
  let proxy: TcpProxy;
  let s3: S3Client;
  let server: Server;
  let contentUrl: string;

  beforeAll(async () => {
    const asset = await addAsset(ctx.baseUrl, file, { name: 'wyvern.png' });
    proxy = await startTcpProxy(Number(new URL(ctx.config.s3.endpoint).port));
    // An API of its own, reaching S3 through the proxy and logging to `logged`.
    s3 = createS3Client({ ...ctx.config.s3, endpoint: `http://127.0.0.1:${proxy.port}` }, { maxAttempts: 1 });
    const app = buildApp({ config: ctx.config, db: ctx.db, s3, temporal: ctx.temporal, logger: recordingLogger(logged) });
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    contentUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/assets/${asset.body.id}/content`;
  });
  afterEach(() => proxy.up());
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    s3?.destroy();
    await proxy?.close();
  });

  it("S3 unreachable: a 503 problem+json with Retry-After, without the download's headers", async () => {
    proxy.down();
    for (const headers of [{}, { Range: 'bytes=0-99' }] as Record<string, string>[]) {
      const got = await download(contentUrl, headers);
      expect(got.status).toBe(503);
      expect(got.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(got.headers.get('retry-after')).toBe('5');
      expect(JSON.parse(got.body.toString())).toMatchObject({ status: 503, title: 'Service Unavailable', dependency: 'object_store' });
      for (const header of ['etag', 'last-modified', 'accept-ranges', 'content-disposition', 'content-range', 'cache-control']) {
        expect(got.headers.get(header)).toBeNull();
      }
    }
  });

  it('the S3 stream cut midway: the response is cut short, and the cut is logged', async () => {
    proxy.cutAfter(256 * 1024);
    const got = await readToEnd(contentUrl);
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe(String(file.length));
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(file.length);
    const cut = logged.filter((line) => line.msg.startsWith('download cut'));
    expect(cut).toEqual([expect.objectContaining({ level: 'error', path: new URL(contentUrl).pathname, err: expect.anything() })]);

    proxy.up();
    const again = await download(contentUrl);
    expect(again.status).toBe(200);
    expect(again.body.equals(file)).toBe(true);
  });
});
