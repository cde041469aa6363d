/**
 * A content type is exactly one media type (lib/platform/mediaTypes.ts), wherever a client gives one:
 * a browser reads a Content-Type as a comma-separated list and renders the last type it knows, so
 * `image/png;,text/html` stored as an image would be served inline and run as HTML on the API's
 * origin. Each place refuses it with a 400 problem at its field, storing nothing; and a type stored
 * before the rule is served as bytes, an attachment.
 */
import { bearer } from './support/auth';
import { bytesOf, postForm, uploadAsset } from './support/assets';
import { footprintOf } from './support/catalog';
import { createUpload } from './support/chunked';
import { useTestService } from './support/context';
import { assetRequested, postEvent } from './support/events';
import { call, expectProblem, type JsonAnswer } from './support/http';

const ctx = useTestService({ STORAGE_INGEST_ALLOWED_HOSTS: 'files.example' });

const NOT_ONE_MEDIA_TYPE = [
  'text/plain, text/html',
  'image/png;,text/html',
  'image/png; a=b,text/html',
  'image/png; a="b",text/html',
  'text/html\t',
  'text/html ',
  ' text/html',
  'text/plain\u0001',
  'text/html/x',
  'text/plain; x=a/b',
  'text/plain; charset',
  'text/plain; charset="utf-8',
];

const footprint = () => footprintOf(ctx);

function expectRefusedAt(res: JsonAnswer, path: string) {
  expectProblem(res, 400);
  // A control character breaks the text rule too: each rule says so, at the same field.
  expect(res.body.errors).toContainEqual({ path, message: expect.stringMatching(/one media type/) });
  for (const error of res.body.errors) expect(error.path).toBe(path);
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe.each(NOT_ONE_MEDIA_TYPE)('%j is not one media type', (type) => {
  let asset: { id: string; content_type: string };
  beforeAll(async () => {
    asset = (await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'typed.png', content_type: 'image/png' })).body;
  });

  it('is refused as the content type of a simple upload, of a new version, of a chunked or a tus session, of an ingest, and of a metadata change; nothing is stored', async () => {
    const before = await footprint();
    expectRefusedAt(await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'refused.png', content_type: type }), 'content_type');
    expectRefusedAt(await postForm(`${ctx.baseUrl}/api/v2/assets/${asset.id}/versions`, bytesOf(100), { content_type: type }), 'content_type');
    expectRefusedAt(await createUpload(ctx.baseUrl, { name: 'refused.png', size_bytes: 100, content_type: type }), 'content_type');
    const tus = await fetch(`${ctx.baseUrl}/api/v2/tus`, {
      method: 'POST',
      headers: {
        ...(await bearer()),
        'tus-resumable': '1.0.0',
        'upload-length': '100',
        'upload-metadata': `filename ${b64('refused.png')},filetype ${b64(type)}`,
      },
    });
    expectRefusedAt({ status: tus.status, headers: tus.headers, body: JSON.parse(await tus.text()) }, 'filetype');
    const ingest = await postEvent(ctx.baseUrl, assetRequested({ source_url: 'https://files.example/x.png', name: 'refused.png', content_type: type }));
    expectRefusedAt(ingest, 'data.content_type');
    expectRefusedAt(await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`, { method: 'PUT', json: { content_type: type } }), 'content_type');
    expect(await footprint()).toEqual(before);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`)).body.content_type).toBe('image/png');
  });
});

it('one media type with parameters, quoted or not, is taken as given', async () => {
  for (const type of ['text/plain; charset=utf-8', 'text/plain;charset="utf-8"', 'application/x-atlas; v="a, b;c"', 'text/plain;']) {
    const res = await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'kept.txt', content_type: type });
    expect(res.status).toBe(201);
    expect(res.body.content_type).toBe(type);
  }
});

it("a file part's own type that is not one media type by the rule (busboy gives type/subtype) is refused, and nothing is stored", async () => {
  const before = await footprint();
  expectRefusedAt(await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, bytesOf(100), { name: 'wild.png' }, 'wild.png', 'image/*'), 'file');
  expect(await footprint()).toEqual(before);
});

it('a type stored before the rule that is not one media type is served as bytes, an attachment, never as what a browser would read in it', async () => {
  const asset = (await uploadAsset(ctx.baseUrl, Buffer.from('<script>alert(1)</script>'), { name: 'old.png', content_type: 'image/png' })).body;
  await ctx.db('asset_versions').where({ asset_id: asset.id }).update({ content_type: 'image/png;,text/html' });
  await ctx.db('assets').where({ id: asset.id }).update({ content_type: 'image/png;,text/html' });
  const res = await fetch(`${ctx.baseUrl}/api/v2/assets/${asset.id}/content`, { headers: await bearer() });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/octet-stream');
  expect(res.headers.get('content-disposition')).toMatch(/^attachment;/);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
});
