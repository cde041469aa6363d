/**
 * A real browser: headless Chromium (Debian's, installed by scripts/bootstrap.sh) loads a page from
 * another origin than the API's, so CORS is real. The page uploads a 12 MiB PNG the test generates
 * with tus-js-client's browser build and a bearer token, then shows the asset back through a
 * signed URL in an <img>; and again with Uppy and @uppy/tus, as docs/api.md shows them.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, createDeflate } from 'node:zlib';
import { build } from 'esbuild';
import puppeteer, { type Browser } from 'puppeteer-core';
import { tokenFor } from './support/auth';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';

const CHROMIUM = '/usr/bin/chromium';
const WIDTH = 2048;
const HEIGHT = 2048;

let ctx: TestContext;
let page: Server;
let pageOrigin: string;
let browser: Browser;
let dir: string;
let png: { path: string; size: number; sha256: string };

/** A PNG chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))));
  return Buffer.concat([head, data, crc]);
}

/**
 * A WIDTH x HEIGHT RGB PNG of pseudo-random pixels (12 MiB of them, stored uncompressed), written
 * row by row: never whole in memory.
 */
async function writePng(file: string): Promise<{ path: string; size: number; sha256: string }> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let size = 0;
  const write = async (bytes: Buffer) => {
    hash.update(bytes);
    size += bytes.length;
    if (!out.write(bytes)) await once(out, 'drain');
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(WIDTH, 0);
  ihdr.writeUInt32BE(HEIGHT, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8 bits, truecolour, deflate, no filter method, no interlace
  await write(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  await write(chunk('IHDR', ihdr));
  const deflate = createDeflate({ level: 0 });
  const idat = (async () => {
    for await (const data of deflate) await write(chunk('IDAT', data as Buffer));
  })();
  for (let y = 0; y < HEIGHT; y++) {
    const row = Buffer.alloc(1 + WIDTH * 3); // filter type 0, then the pixels
    for (let at = 1; at < row.length; at += 32) createHash('sha256').update(`${y}:${at}`).digest().copy(row, at);
    if (!deflate.write(row)) await once(deflate, 'drain');
  }
  deflate.end();
  await idat;
  await write(chunk('IEND', Buffer.alloc(0)));
  out.end();
  await once(out, 'finish');
  return { path: file, size, sha256: hash.digest('hex') };
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>tus upload</title>
<script src="/tus.js"></script>
<script src="/uppy.js"></script>
<script>
  // Uploads the page's PNG to the API, as a front end would: a File, a bearer token, tus.
  window.upload = async (api, token) => {
    const blob = await (await fetch('/portrait.png')).blob();
    const file = new File([blob], 'portrait.png', { type: 'image/png' });
    return new Promise((resolve, reject) => {
      const upload = new tus.Upload(file, {
        endpoint: api + '/api/v2/tus',
        chunkSize: 8 * 1024 * 1024,
        headers: { Authorization: 'Bearer ' + token },
        metadata: { filename: file.name, filetype: file.type },
        onSuccess: () => resolve(upload.url),
        onError: (err) => reject(String(err)),
      });
      upload.start();
    });
  };
  // The Uppy snippet of docs/api.md, given the same file.
  window.uploadWithUppy = async (api, token) => {
    const blob = await (await fetch('/portrait.png')).blob();
    const uppy = new Uppy().use(UppyTus, {
      endpoint: api + '/api/v2/tus',
      headers: { Authorization: 'Bearer ' + token },
      chunkSize: 8 * 1024 * 1024,
    });
    const uploaded = new Promise((resolve) => uppy.on('upload-success', (file, response) => resolve(response.uploadURL)));
    uppy.addFile({ name: 'uppy-portrait.png', type: 'image/png', data: blob });
    const result = await uppy.upload();
    if (result.failed.length > 0) throw new Error(String(result.failed[0].error));
    return uploaded;
  };
  // Shows the asset through a signed URL, which an <img> can load without a token.
  window.show = async (api, token, assetId) => {
    const res = await fetch(api + '/api/v2/assets/' + assetId + '/url', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: '{}',
    });
    const { url } = await res.json();
    const img = document.createElement('img');
    img.src = api + url;
    document.body.append(img);
    await img.decode();
    return img.naturalWidth;
  };
</script>`;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'browser-test-'));
  png = await writePng(path.join(dir, 'portrait.png'));
  // Uppy ships ES modules with bare imports: one script for the page, as a front end's bundler makes it.
  const uppy = await build({
    stdin: { contents: "import Uppy from '@uppy/core'; import Tus from '@uppy/tus'; globalThis.Uppy = Uppy; globalThis.UppyTus = Tus;", resolveDir: __dirname },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
  });
  page = createServer((req, res) => {
    if (req.url === '/') res.setHeader('Content-Type', 'text/html').end(PAGE);
    else if (req.url === '/tus.js') createReadStream(require.resolve('tus-js-client/dist/tus.min.js')).pipe(res.setHeader('Content-Type', 'text/javascript'));
    else if (req.url === '/uppy.js') res.setHeader('Content-Type', 'text/javascript').end(uppy.outputFiles[0].contents);
    else if (req.url === '/portrait.png') createReadStream(png.path).pipe(res.setHeader('Content-Type', 'image/png'));
    else res.writeHead(404).end();
  });
  page.listen(0, '127.0.0.1');
  await once(page, 'listening');
  // Another port is another origin: every request to the API is a cross-origin one.
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  ctx = await startTestService({ STORAGE_CORS_ORIGINS: pageOrigin });
  browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  page?.close();
  await ctx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('uploads a 12 MiB PNG from a page of another origin with tus-js-client, and shows it back through a signed URL in an <img>', async () => {
  const token = await tokenFor({ sub: 'alice' });
  const tab = await browser.newPage();
  await tab.goto(pageOrigin);
  const url: string = await tab.evaluate(
    (api, t) => (globalThis as unknown as { upload(a: string, b: string): Promise<string> }).upload(api, t),
    ctx.baseUrl,
    token,
  );
  const uploadId = url.split('/').pop();

  const upload = await call(`${ctx.baseUrl}/api/v2/uploads/${uploadId}`, { as: token });
  expect(upload.body).toMatchObject({ status: 'completed', size_bytes: png.size, checksum_sha256: png.sha256 });
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${upload.body.asset_id}`, { as: token });
  expect(asset.body).toMatchObject({ name: 'portrait.png', content_type: 'image/png', owner_id: 'alice', checksum_sha256: png.sha256 });

  const width = await tab.evaluate(
    (api, t, id) => (globalThis as unknown as { show(a: string, b: string, c: string): Promise<number> }).show(api, t, id),
    ctx.baseUrl,
    token,
    upload.body.asset_id,
  );
  expect(width).toBe(WIDTH);
}, 120_000);

it('uploads the same PNG with Uppy and @uppy/tus, as docs/api.md shows them', async () => {
  const token = await tokenFor({ sub: 'alice' });
  const tab = await browser.newPage();
  await tab.goto(pageOrigin);
  const url: string = await tab.evaluate(
    (api, t) => (globalThis as unknown as { uploadWithUppy(a: string, b: string): Promise<string> }).uploadWithUppy(api, t),
    ctx.baseUrl,
    token,
  );
  const upload = await call(`${ctx.baseUrl}/api/v2/uploads/${url.split('/').pop()}`, { as: token });
  expect(upload.body).toMatchObject({ status: 'completed', name: 'uppy-portrait.png', content_type: 'image/png', checksum_sha256: png.sha256 });
}, 120_000);
