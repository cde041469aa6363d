/**
 * Content types are right without the user's help (issue 29), over HTTP on every upload path: a file
 * sent without a type, or as application/octet-stream, is stored as what its first bytes are; a new
 * version without one keeps its asset's type; a declared image type that its bytes contradict is
 * refused (415, both types named) and leaves no asset, version or object; active content stays an
 * attachment. And the CLI sends the type of the file's extension.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { UploadState } from '../workflows/uploads/definitions';
import { postForm } from './support/assets';
import { adminToken, bearer } from './support/auth';
import { addAsset, addVersion, footprintOf, objectKeys, settled, uniqueMarker } from './support/catalog';
import { completeUpload, createUpload, putAllParts } from './support/chunked';
import { cliEnv, storage, type CliEnv } from './support/cli';
import { useTestService } from './support/context';
import { assetRequested, postEvent } from './support/events';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { htmlBytes, jpegBytes, pdfBytes, pngBytes, svgBytes } from './support/sampleFiles';

// The sources of the events' uploads: served untyped, as many file servers do.
const SOURCES: Record<string, () => Buffer> = { '/portrait': pngBytes, '/photo': jpegBytes };
let sources: http.Server;
beforeAll(async () => {
  sources = http.createServer((req, res) => {
    const bytes = SOURCES[req.url!];
    if (bytes) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes());
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => sources.listen(0, '127.0.0.1', resolve));
});
afterAll(() => {
  sources?.closeAllConnections();
  sources?.close();
});
const sourceUrl = (p: string) => `http://127.0.0.1:${(sources.address() as AddressInfo).port}${p}`;

// Read once the source server listens.
const ctx = useTestService(() => ({ STORAGE_INGEST_ALLOWED_HOSTS: new URL(sourceUrl('/')).host }));

const upload = (file: Buffer, fields: Record<string, string>, fileType = 'application/octet-stream', filename = 'file.bin') =>
  postForm(`${ctx.baseUrl}/api/v2/assets/upload`, file, fields, filename, fileType);

/** What a refused upload must leave as it was: every asset, version and object (its session row ends failed, saying why). */
async function catalogAndBucket() {
  const { assets, versions, objects, multipart } = await footprintOf(ctx);
  return { assets, versions, objects, multipart };
}

/**
 * The refusal of `res` (an upload's answer): 415 content-type-mismatch naming both types; or, when
 * the API's wait ran out first (202), its session ended failed saying the same. Answers the upload's id.
 */
async function expectRefused(res: JsonAnswer, declared: string, detected: string): Promise<string> {
  const says = expect.stringContaining(`${declared} was declared, but the bytes are ${detected}`);
  if (res.status === 202) {
    const ended = await waitUntil('the refused upload to end', async () => {
      const read = await call(`${ctx.baseUrl}${res.body.status_url}`);
      return read.body.status !== 'open' && read.body.status !== 'completing' && read;
    });
    expect(ended.body).toMatchObject({ status: 'failed', error: says });
    return res.body.upload_id;
  }
  expectProblem(res, 415);
  expect(res.body).toMatchObject({ type: '/problems/content-type-mismatch', declared_type: declared, detected_type: detected, detail: says });
  return res.body.upload_id;
}

/** The refused upload's session: failed, no version, and its object not in the bucket. */
async function expectNothingKept(uploadId: string) {
  const session = await ctx.db('upload_sessions').where({ id: uploadId }).first();
  expect(session).toMatchObject({ status: 'failed', error: expect.stringMatching(/^content type mismatch/) });
  expect(await ctx.db('asset_versions').where({ upload_id: uploadId }).first()).toBeUndefined();
  expect(await objectKeys(ctx, session.object_key)).toEqual([]);
}

describe('a simple upload', () => {
  it('sent as application/octet-stream, or without a content_type field, is stored as what its bytes are', async () => {
    const png = await addAsset(ctx.baseUrl, pngBytes(), { name: 'portrait.png' });
    expect(png.body.content_type).toBe('image/png');
    const pdf = await settled(ctx.baseUrl, await upload(pdfBytes(), { name: 'handout', content_type: 'application/octet-stream' }), 'asset');
    expect(pdf.body.content_type).toBe('application/pdf');
    // Text has no magic number: it stays what it was sent as.
    const notes = await addAsset(ctx.baseUrl, Buffer.from('a line of notes\n'), { name: 'notes' });
    expect(notes.body.content_type).toBe('application/octet-stream');
    // The version and the listing say the same as the asset.
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${png.body.id}/versions`)).body.items[0].content_type).toBe('image/png');
    expect((await call(`${ctx.baseUrl}/api/v2/assets?content_type=${encodeURIComponent('image/*')}&name_prefix=portrait`)).body.items).toContainEqual(
      expect.objectContaining({ id: png.body.id }),
    );
  });

  it('declared image/png with the bytes of a JPEG, or of a PDF, is 415 naming both types, and leaves no asset, version or object', async () => {
    const before = await catalogAndBucket();
    const jpeg = await expectRefused(await upload(jpegBytes(), { name: 'fake.png', content_type: 'image/png' }), 'image/png', 'image/jpeg');
    // The file part's own type declares it just as well.
    const pdf = await expectRefused(await upload(pdfBytes(), { name: 'fake.png' }, 'image/png', 'fake.png'), 'image/png', 'application/pdf');
    expect(await catalogAndBucket()).toEqual(before);
    await expectNothingKept(jpeg);
    await expectNothingKept(pdf);
  });

  it('declared as what its bytes are, or as a type they cannot show, is taken as declared', async () => {
    expect((await addAsset(ctx.baseUrl, jpegBytes(), { name: 'photo.jpg', content_type: 'image/jpg' })).body.content_type).toBe('image/jpg');
    expect((await addAsset(ctx.baseUrl, pngBytes(), { name: 'notes.txt', content_type: 'text/plain' })).body.content_type).toBe('text/plain');
  });
});

describe('a new version without a type', () => {
  it("keeps its asset's type when its bytes show nothing else, and takes theirs when they do", async () => {
    const asset = (await addAsset(ctx.baseUrl, Buffer.from('first notes\n'), { name: 'notes.txt', content_type: 'text/plain' })).body;
    const second = await addVersion(ctx.baseUrl, asset.id, Buffer.from('second notes\n'));
    expect(second.body.content_type).toBe('text/plain');
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`)).body.content_type).toBe('text/plain');
    const third = await addVersion(ctx.baseUrl, asset.id, pdfBytes());
    expect(third.body.content_type).toBe('application/pdf');
  });

  it('declared image/png with the bytes of a PDF is refused, and the asset is as it was', async () => {
    const asset = (await addAsset(ctx.baseUrl, pngBytes(), { name: 'map.png' })).body;
    const before = await catalogAndBucket();
    const res = await postForm(`${ctx.baseUrl}/api/v2/assets/${asset.id}/versions`, pdfBytes(), { content_type: 'image/png' });
    await expectNothingKept(await expectRefused(res, 'image/png', 'application/pdf'));
    expect(await catalogAndBucket()).toEqual(before);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`)).body).toMatchObject({ content_type: 'image/png', version_count: 1 });
  });
});

it('a restore copies a version with the type it was stored with: never refused for its bytes, which were stored once', async () => {
  const asset = (await addAsset(ctx.baseUrl, jpegBytes(), { name: 'old.png', content_type: 'image/jpeg' })).body;
  // As stored before types were read from the bytes.
  await ctx.db('asset_versions').where({ asset_id: asset.id }).update({ content_type: 'image/png' });
  const restored = await settled(
    ctx.baseUrl,
    await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/versions/${asset.current_version_id}/restore`, { method: 'POST' }),
    'version',
  );
  expect(restored.body).toMatchObject({ version_number: 2, content_type: 'image/png' });
});

describe('a chunked upload', () => {
  async function chunked(file: Buffer, body: Record<string, unknown>): Promise<JsonAnswer> {
    const session = await createUpload(ctx.baseUrl, { name: 'chunked', size_bytes: file.length, part_size_bytes: 5 * 1024 * 1024, ...body });
    expect(session.status).toBe(201);
    await putAllParts(ctx.baseUrl, session.body.id, file);
    return completeUpload(ctx.baseUrl, session.body.id);
  }

  it('without a type is stored as what its bytes are', async () => {
    const done = await chunked(pngBytes(), {});
    expect(done.status).toBe(200);
    expect(done.body.asset.content_type).toBe('image/png');
    expect(done.body.version.content_type).toBe('image/png');
    expect(done.body.upload.content_type).toBe('image/png');
  });

  it('declared image/png with the bytes of a PDF is 415 at complete, and again when completed again', async () => {
    const before = await catalogAndBucket();
    const id = await expectRefused(await chunked(pdfBytes(), { content_type: 'image/png' }), 'image/png', 'application/pdf');
    expect(await catalogAndBucket()).toEqual(before);
    await expectNothingKept(id);
    const again = await completeUpload(ctx.baseUrl, id);
    expect(again.status).toBe(415);
  });
});

describe('a tus upload', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64');

  /** Creates the upload and sends the whole file in one PATCH: its answer is the finish's. */
  async function tus(file: Buffer, metadata: string) {
    const headers = { ...(await bearer()), 'tus-resumable': '1.0.0' };
    const created = await fetch(`${ctx.baseUrl}/api/v2/tus`, {
      method: 'POST',
      headers: { ...headers, 'upload-length': String(file.length), 'upload-metadata': metadata },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, ctx.baseUrl).toString();
    const res = await fetch(url, {
      method: 'PATCH',
      headers: { ...headers, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: file,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, id: url.split('/').pop()! };
  }

  it('without a filetype is stored as what its bytes are', async () => {
    const res = await tus(jpegBytes(), `filename ${b64('photo')}`);
    expect(res.status).toBe(204);
    const session = (await call(`${ctx.baseUrl}/api/v2/uploads/${res.id}`)).body;
    expect(session).toMatchObject({ status: 'completed', content_type: 'image/jpeg' });
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${session.asset_id}`)).body.content_type).toBe('image/jpeg');
  });

  it('declared image/png with the bytes of a JPEG is 415 on its last PATCH', async () => {
    const before = await catalogAndBucket();
    const res = await tus(jpegBytes(), `filename ${b64('fake.png')},filetype ${b64('image/png')}`);
    expect(await expectRefused(res, 'image/png', 'image/jpeg')).toBe(res.id);
    expect(await catalogAndBucket()).toEqual(before);
    await expectNothingKept(res.id);
  });
});

describe('an upload by URL (service.asset.requested)', () => {
  async function ingest(data: Record<string, unknown>) {
    const res = await postEvent(ctx.baseUrl, assetRequested(data));
    expect(res.status).toBe(202);
    const state = (await ctx.temporal.client.workflow.getHandle(res.body.workflow_id).result()) as UploadState;
    return { state, uploadId: res.body.workflow_id.replace(/^upload-/, '') };
  }

  it('without a content_type is stored as what its bytes are', async () => {
    const { state } = await ingest({ source_url: sourceUrl('/portrait'), name: 'fetched portrait' });
    expect(state.status).toBe('completed');
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${state.result!.assetId}`)).body.content_type).toBe('image/png');
  });

  it('declared image/png with the bytes of a JPEG ends failed, naming both, with nothing kept', async () => {
    const before = await catalogAndBucket();
    const { state, uploadId } = await ingest({ source_url: sourceUrl('/photo'), name: 'fetched fake.png', content_type: 'image/png' });
    expect(state).toMatchObject({ status: 'failed', error: expect.stringContaining('image/png was declared, but the bytes are image/jpeg') });
    expect(await catalogAndBucket()).toEqual(before);
    await expectNothingKept(uploadId);
  });
});

describe('active content', () => {
  async function served(assetId: string) {
    const res = await fetch(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`, { headers: await bearer() });
    expect(res.status).toBe(200);
    return { type: res.headers.get('content-type'), disposition: res.headers.get('content-disposition') };
  }

  it('HTML and SVG sent without a type are never made an inline type: an attachment, as when declared', async () => {
    const html = (await addAsset(ctx.baseUrl, htmlBytes(), { name: 'page.html' })).body;
    expect(html.content_type).toBe('application/octet-stream');
    expect((await served(html.id)).disposition).toMatch(/^attachment;/);
    const svg = (await addAsset(ctx.baseUrl, svgBytes(), { name: 'token.svg' })).body;
    expect(svg.content_type).toBe('application/xml');
    expect(await served(svg.id)).toMatchObject({ type: 'application/xml', disposition: expect.stringMatching(/^attachment;/) });
    const declared = (await addAsset(ctx.baseUrl, svgBytes(), { name: 'token.svg', content_type: 'image/svg+xml' })).body;
    expect(declared.content_type).toBe('image/svg+xml');
    expect((await served(declared.id)).disposition).toMatch(/^attachment;/);
  });
});

describe('the CLI', () => {
  let env: CliEnv;
  let dir: string;
  beforeAll(async () => {
    env = cliEnv(ctx.baseUrl, await adminToken());
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-types-'));
  });

  async function cli(args: string[]) {
    const run = await storage(env, [...args, '--json']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    return run.json();
  }

  it("`storage upload x.png` stores image/png, found by `ls --content-type 'image/*'`; a .txt is text/plain, and its new version stays so", async () => {
    const marker = uniqueMarker('cli');
    const png = path.join(dir, `${marker}.png`);
    fs.writeFileSync(png, pngBytes());
    const uploaded = await cli(['upload', png]);
    expect(uploaded.asset.content_type).toBe('image/png');
    const listed = await cli(['ls', '--content-type', 'image/*', '--name-prefix', marker]);
    expect(listed.items.map((a: { id: string }) => a.id)).toEqual([uploaded.asset.id]);

    const txt = path.join(dir, `${marker}.txt`);
    fs.writeFileSync(txt, 'notes\n');
    const notes = await cli(['upload', txt]);
    expect(notes.asset.content_type).toBe('text/plain');
    fs.writeFileSync(txt, 'more notes\n');
    expect((await cli(['upload', txt, '--asset', notes.asset.id])).asset.content_type).toBe('text/plain');
    // --content-type still says what the extension would not.
    expect((await cli(['upload', txt, '--content-type', 'text/markdown'])).asset.content_type).toBe('text/markdown');
  });
});
