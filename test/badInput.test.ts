/**
 * Bad input, over HTTP: each is refused with a 400 (or 405) problem naming what is wrong, and
 * changes nothing; the served document states the same rules, so a generated client knows them.
 */
import { bearer } from './support/auth';
import Ajv2020 from 'ajv/dist/2020';
import { request } from 'node:http';
import { SUBSCRIBED_TYPES } from '../api/schemas/events';
import { bytesOf, uploadAsset } from './support/assets';
import { footprintOf, listPage } from './support/catalog';
import { createUpload } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { awaitJob } from './support/backups';

const MAX_UPLOAD = 48 * 1024 * 1024;

const ctx = useTestService({ STORAGE_MAX_UPLOAD_SIZE: String(MAX_UPLOAD) });
let doc: any;
beforeAll(async () => {
  doc = (await call(`${ctx.baseUrl}/openapi.json`)).body;
});

const footprint = () => footprintOf(ctx);

function expectFieldError(res: JsonAnswer, path: string) {
  expectProblem(res, 400);
  expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
}

/** A JSON body sent as written: `JSON.stringify` would escape a lone surrogate differently than a client might. */
function postRaw(path: string, body: string): Promise<JsonAnswer> {
  return call(`${ctx.baseUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
}

/** Any method, TRACE too (which fetch refuses to send). */
async function send(method: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const headers = await bearer();
  return new Promise((resolve, reject) => {
    const req = request(`${ctx.baseUrl}${path}`, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const rule = { action: 'expire_assets', days: 30 };

describe('one rule for text', () => {
  it('a NUL in a policy description is a 400 at description, and no policy is written', async () => {
    const before = await footprint();
    const res = await call(`${ctx.baseUrl}/api/v2/policies`, { method: 'POST', json: { name: 'nul policy', description: 'a\u0000b', rules: [rule] } });
    expectFieldError(res, 'description');
    expect(await footprint()).toEqual(before);
    // Multi-line text keeps its tabs and line breaks.
    const kept = await call(`${ctx.baseUrl}/api/v2/policies`, {
      method: 'POST',
      json: { name: 'lines policy', description: 'one\ttwo\r\nthree', rules: [rule] },
    });
    expect(kept.status).toBe(201);
    expect(kept.body.description).toBe('one\ttwo\r\nthree');
  });

  it('a NUL in the tags (or a non-ASCII content type) of a chunked upload is a 400 at once, and opens no session', async () => {
    const before = await footprint();
    const res = await createUpload(ctx.baseUrl, { name: 'tagged.bin', size_bytes: 10, tags: ['\u0000a'] });
    expectFieldError(res, 'tags[0]');
    // A content type is sent on as a header: outside ASCII it is refused here, not by S3 later.
    expectFieldError(await createUpload(ctx.baseUrl, { name: 'typed.bin', size_bytes: 10, content_type: 'text/plain; charset=ünï' }), 'content_type');
    // A session's workflow writes its row before the request that opened it is answered.
    expect(await footprint()).toEqual(before);
  });

  it.each([
    ['before the file', true],
    ['after the file', false],
  ])('a NUL in a metadata value of a simple upload form (%s) is a 400 at metadata.a, leaving no row and no object', async (_when, fieldsFirst) => {
    const before = await footprint();
    const metadata = JSON.stringify({ a: 'b\u0000c' });
    let res: JsonAnswer;
    if (fieldsFirst) {
      res = await uploadAsset(ctx.baseUrl, bytesOf(200_000), { name: 'nul.bin', metadata });
    } else {
      const form = new FormData();
      form.append('file', new Blob([bytesOf(200_000)]), 'nul.bin');
      form.append('metadata', metadata);
      res = await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form });
    }
    expectFieldError(res, 'metadata.a');
    expect(await footprint()).toEqual(before);
  });

  it('a filename with a NUL (percent-encoded, RFC 5987) is not a name: the form must give one', async () => {
    // busboy itself refuses raw control characters in a part's headers; an encoded one it decodes.
    const upload = (fields: string) => {
      const boundary = 'b0undary';
      const body = Buffer.concat([
        Buffer.from(
          `${fields && `--${boundary}\r\n${fields}`}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''bad%00name.bin\r\n\r\n`,
        ),
        bytesOf(1000),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    };
    const before = await footprint();
    expectFieldError(await upload(''), 'name');
    expect(await footprint()).toEqual(before);
    const named = await upload('Content-Disposition: form-data; name="name"\r\n\r\ngood name.bin\r\n');
    expect(named.status).toBe(201);
    expect(named.body.name).toBe('good name.bin');
  });

  it('an unpaired surrogate, sent as the JSON escape \\ud800, is a 400 naming its field', async () => {
    const before = await footprint();
    expectFieldError(await postRaw('/api/v2/policies', `{"name":"moon \\ud800","rules":[{"action":"expire_assets","days":1}]}`), 'name');
    expectFieldError(await postRaw('/api/v2/uploads', `{"name":"x.bin","size_bytes":1,"metadata":{"k":"\\udc00"}}`), 'metadata.k');
    expect(await footprint()).toEqual(before);
    // A well-formed pair (an emoji) is text like any other.
    const emoji = await postRaw('/api/v2/policies', `{"name":"moon \\ud83c\\udf19","rules":[{"action":"expire_assets","days":1}]}`);
    expect(emoji.status).toBe(201);
    expect(emoji.body.name).toBe('moon 🌙');
  });

  it('a tag or a metadata key with a control character is a 400 at its path', async () => {
    const asset = await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'controls.bin', tags: 'ok' });
    expect(asset.status).toBe(201);
    const put = (json: unknown) => call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`, { method: 'PUT', json });
    expectFieldError(await put({ tags: ['fine', 'tab\there'] }), 'tags[1]');
    expectFieldError(await put({ metadata: { 'bell\u0007': 'v' } }), 'metadata["bell\\u0007"]');
    expectFieldError(await put({ metadata: { k: 'escape \u001b[31m' } }), 'metadata.k');
    expectFieldError(await put({ content_type: 'text/plain; charset=\u0000' }), 'content_type');
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`)).body).toMatchObject({ tags: ['ok'], metadata: {} });
    // A list filter is text matched against stored text: the same rule.
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/assets?tag=${encodeURIComponent('a\u0000')}`), 'tag[0]');
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/assets?name_prefix=${encodeURIComponent('a\u0001')}`), 'name_prefix');
  });

  it("a NUL in an incoming event's data is a 400 at data.name, and the envelope's fields follow the rule too", async () => {
    const post = (event: unknown) =>
      call(`${ctx.baseUrl}/api/v2/events`, { method: 'POST', json: event, headers: { 'content-type': 'application/cloudevents+json' } });
    const event = { specversion: '1.0', id: 'evt-nul', source: 'character-service', type: 'service.asset.requested' };
    expectFieldError(await post({ ...event, data: { source_url: 'http://example.test/x.png', name: 'x\u0000' } }), 'data.name');
    expectFieldError(await post({ ...event, subject: 'a\u0000', data: { source_url: 'http://example.test/x.png', name: 'x' } }), 'subject');
    expectFieldError(await post({ ...event, type: 'service.unknown.happened', data: {} }), 'type');
    expect(await ctx.db('upload_sessions').where({ name: 'x' })).toEqual([]);
  });

  it('the document carries the rule as a pattern that refuses a NUL and keeps a tab in multi-line text', () => {
    const ajv = new Ajv2020({ strict: false });
    const body = doc.paths['/api/v2/policies'].post.requestBody.content['application/json'].schema;
    const name = ajv.compile(body.properties.name);
    const description = ajv.compile(body.properties.description);
    expect([name('a\u0000b'), name('a\tb'), name('moon 🌙')]).toEqual([false, false, true]);
    expect([description('a\u0000b'), description('a\tb\nc')]).toEqual([false, true]);
  });
});

describe('names that disguise what they name', () => {
  /** A refusal that names the code point at the field, and in the problem's detail when it is the only problem. */
  function expectRefusedCodePoint(res: JsonAnswer, path: string, codePoint: string) {
    expectFieldError(res, path);
    if (res.body.errors.length === 1) expect(res.body.detail).toContain(codePoint);
    expect(res.body.errors.find((e: { path: string }) => e.path === path).message).toContain(codePoint);
  }

  // "invoice\u202Efdp.exe" shows as "invoiceexe.pdf"; a zero-width character makes two names that look the same.
  it.each([
    ['U+202E', 'invoice\u202efdp.exe'],
    ['U+202D', 'a\u202db.txt'],
    ['U+2067', 'a\u2067b.txt'],
    ['U+200F', 'a\u200fb.txt'],
    ['U+061C', 'a\u061cb.txt'],
    ['U+200B', 'report.pdf\u200b.exe'],
    ['U+200D', 'a\u200db.txt'],
    ['U+2060', 'a\u2060b.txt'],
    ['U+FEFF', '\ufeffa.txt'],
  ])('a name holding %s is a 400 naming that code point, and opens no session', async (codePoint, name) => {
    const before = await footprint();
    expectRefusedCodePoint(await createUpload(ctx.baseUrl, { name, size_bytes: 10 }), 'name', codePoint);
    expect(await footprint()).toEqual(before);
  });

  it("every other way of giving a name refuses it too: a rename, a form's name field or filename, tus metadata, an incoming event, a download name", async () => {
    const name = 'invoice\u202efdp.exe';
    const asset = await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'plain.bin' });
    expect(asset.status).toBe(201);
    const before = await footprint();

    expectRefusedCodePoint(await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`, { method: 'PUT', json: { name } }), 'name', 'U+202E');
    // The name field before the file (refused before anything is staged) and after it (the staged file goes).
    expectRefusedCodePoint(await uploadAsset(ctx.baseUrl, bytesOf(200_000), { name }), 'name', 'U+202E');
    const nameAfterFile = new FormData();
    nameAfterFile.append('file', new Blob([bytesOf(200_000)]), 'plain.bin');
    nameAfterFile.append('name', name);
    expectRefusedCodePoint(await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: nameAfterFile }), 'name', 'U+202E');
    // The file's own name, when no field names the asset.
    expectRefusedCodePoint(await uploadAsset(ctx.baseUrl, bytesOf(200_000), {}, name), 'name', 'U+202E');
    const tus = await call(`${ctx.baseUrl}/api/v2/tus`, {
      method: 'POST',
      headers: { 'tus-resumable': '1.0.0', 'upload-length': '10', 'upload-metadata': `filename ${Buffer.from(name).toString('base64')}` },
    });
    expectRefusedCodePoint(tus, 'filename', 'U+202E');
    const event = await call(`${ctx.baseUrl}/api/v2/events`, {
      method: 'POST',
      json: {
        specversion: '1.0',
        id: 'evt-rlo',
        source: 'character-service',
        type: 'service.asset.requested',
        data: { source_url: 'http://example.test/x', name },
      },
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    // This service fetches from no host, so the source URL is refused beside the name.
    expect(event.body.errors).toHaveLength(2);
    expectRefusedCodePoint(event, 'data.name', 'U+202E');
    expectRefusedCodePoint(await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}/url`, { method: 'POST', json: { download: name } }), 'download', 'U+202E');

    expect(await footprint()).toEqual(before);
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`)).body.name).toBe('plain.bin');
  });

  it('tags follow the same rule (a filter takes any); metadata values keep the marks and joiners that prose in other scripts needs', async () => {
    const asset = await uploadAsset(ctx.baseUrl, bytesOf(100), { name: 'tagged.bin', tags: 'approved' });
    const put = (json: unknown) => call(`${ctx.baseUrl}/api/v2/assets/${asset.body.id}`, { method: 'PUT', json });
    expectRefusedCodePoint(await put({ tags: ['approved\u200b'] }), 'tags[0]', 'U+200B');
    // A filter only reads: it may still look for a tag stored before the rule.
    expect((await call(`${ctx.baseUrl}/api/v2/assets?tag=${encodeURIComponent('approved\u200b')}`)).body.items).toEqual([]);
    // Hebrew with a right-to-left mark, Persian with a zero-width non-joiner.
    const metadata = { note: 'שלום\u200f (shalom)', title: 'می\u200cخواهم' };
    const kept = await put({ metadata });
    expect(kept.status).toBe(200);
    expect(kept.body).toMatchObject({ tags: ['approved'], metadata });
  });

  it('the document states the rule as a pattern of the name', () => {
    const ajv = new Ajv2020({ strict: false });
    const name = ajv.compile(doc.paths['/api/v2/uploads'].post.requestBody.content['application/json'].schema.properties.name);
    expect([name('invoice\u202efdp.exe'), name('a\u200bb'), name('dragon 🐉.png'), name('שלום.png')]).toEqual([false, false, true, true]);
  });
});

describe('405 for a method a known path does not serve', () => {
  it.each([
    ['TRACE', '/health/ready', 'GET, HEAD, OPTIONS'],
    ['DELETE', '/api/v2/assets', 'GET, HEAD, OPTIONS'],
    // A literal path is not an id: no asset is called "upload".
    ['PUT', '/api/v2/assets/upload', 'POST, OPTIONS'],
    ['PATCH', '/api/v2/uploads/01900000-0000-7000-8000-000000000001', 'GET, HEAD, DELETE, OPTIONS'],
  ])('%s %s: 405 problem with Allow: %s', async (method, path, allow) => {
    const res = await send(method, path);
    expect({ status: res.status, allow: res.headers.allow, type: res.headers['content-type'] }).toEqual({
      status: 405,
      allow,
      type: expect.stringMatching(/^application\/problem\+json/),
    });
    expect(JSON.parse(res.body)).toMatchObject({ status: 405, title: 'Method Not Allowed' });
  });

  it('OPTIONS answers 204 with the same Allow', async () => {
    const res = await send('OPTIONS', '/api/v2/policies/01900000-0000-7000-8000-000000000001');
    expect({ status: res.status, allow: res.headers.allow }).toEqual({ status: 204, allow: 'GET, HEAD, PUT, PATCH, DELETE, OPTIONS' });
  });

  it('an unknown path stays 404, whatever the method', async () => {
    for (const method of ['GET', 'TRACE', 'DELETE']) {
      const res = await send(method, '/api/v2/nothing-here');
      expect(res.status).toBe(404);
      expect(res.headers.allow).toBeUndefined();
    }
  });
});

describe('the document states the limits the API enforces', () => {
  const paramSchema = (path: string, method: string, name: string) => doc.paths[path][method].parameters.find((p: { name: string }) => p.name === name).schema;

  it('cursor=0 is a 400; the document states a cursor as an opaque string of URL-safe characters, which one handed out is', async () => {
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/assets?cursor=0`), 'cursor');
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/events?after=0`), 'after');
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/events?cursor=0`), 'cursor');
    await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'page one.bin' });
    await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'page two.bin' });
    const handedOut = (await listPage(ctx.baseUrl, { limit: '1' })).next_cursor!;
    const schema = paramSchema('/api/v2/assets', 'get', 'cursor');
    expect(schema).toEqual(expect.objectContaining({ type: 'string', maxLength: 1024, pattern: '^[A-Za-z0-9_-]*$' }));
    expect(new Ajv2020({ strict: false }).compile(schema)(handedOut)).toBe(true);
  });

  it('size_bytes has the configured STORAGE_MAX_UPLOAD_SIZE as its maximum; over it is a 413', async () => {
    const body = doc.paths['/api/v2/uploads'].post.requestBody.content['application/json'].schema;
    expect(body.properties.size_bytes.maximum).toBe(MAX_UPLOAD);
    expectProblem(await createUpload(ctx.baseUrl, { name: 'big.bin', size_bytes: MAX_UPLOAD + 1 }), 413);
  });

  it('an incoming event is one of the subscribed types, each with its own data', () => {
    const variants = doc.paths['/api/v2/events'].post.requestBody.content['application/cloudevents+json'].schema.oneOf;
    expect(variants.map((v: any) => v.properties.type.const)).toEqual(SUBSCRIBED_TYPES);
    expect(variants[0].properties.data.required).toEqual(expect.arrayContaining(['source_url', 'name']));
  });

  it('part numbers are bounded, and repeated asset ids are stated as unique items', () => {
    expect(paramSchema('/api/v2/uploads/{id}/parts/{n}', 'put', 'n')).toMatchObject({ minimum: 1, maximum: 10_000 });
    expect(doc.paths['/api/v2/backups'].post.requestBody.content['application/json'].schema.properties.asset_ids.uniqueItems).toBe(true);
  });
});

describe('one UUID schema for requests and answers', () => {
  it('a restore of ids in mixed case and without the RFC variant answers as the document says', async () => {
    const backup = await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', json: {} });
    expect(backup.status).toBe(202);
    await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`);
    // Variant nibble 0 and 7: a UUID to the API's pattern, not to RFC 9562's.
    const ids = ['01900000-0000-7000-0000-00000000ABCD', '01900000-0000-7000-7000-00000000abce'];
    // call() checks each answer against the document: these are the checks this test is for.
    const restore = await call(`${ctx.baseUrl}/api/v2/backups/${backup.body.id}/restore`, { method: 'POST', json: { asset_ids: ids } });
    expect(restore.status).toBe(202);
    expect(restore.body.asset_ids).toEqual(ids.map((id) => id.toLowerCase()));
    const done = await awaitJob(ctx, `/api/v2/restores/${restore.body.id}`);
    expect((done.failed_assets as Array<{ asset_id: string }>).map((f) => f.asset_id).sort()).toEqual(ids.map((id) => id.toLowerCase()).sort());
  });
});

describe('the scrub, drill and restore routes of issue 28', () => {
  it('a sample_percent over 0 that the scrub row cannot hold (below 0.001) is a 400 at sample_percent, and starts no scrub', async () => {
    for (const share of [0.0001, 0.0004, 1e-300, Number.MIN_VALUE]) {
      expectFieldError(await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { sample_percent: share, dry_run: true } }), 'sample_percent');
    }
    expect((await call(`${ctx.baseUrl}/api/v2/scrubs`)).body.items).toEqual([]);
    expect(doc.paths['/api/v2/scrubs'].post.requestBody.content['application/json'].schema.properties.sample_percent).toMatchObject({ minimum: 0.001 });
  });

  it("a cursor whose position holds a NUL (no list hands one out) is a 400 at cursor, a scrub's findings' and the assets' by name alike", async () => {
    const started = await call(`${ctx.baseUrl}/api/v2/scrubs`, { method: 'POST', json: { dry_run: true } });
    expect(started.status).toBe(202);
    const legacy = (position: object) => Buffer.from(JSON.stringify(position)).toString('base64url');
    const findings = `${ctx.baseUrl}/api/v2/scrubs/${started.body.id}/findings`;
    expectFieldError(await call(`${findings}?cursor=${legacy({ kind: 'orphan_object\u0000', subject: 'x' })}`), 'cursor');
    expectFieldError(await call(`${findings}?cursor=${legacy({ kind: 'orphan_object', subject: 'a\u0000b' })}`), 'cursor');
    const byName = { s: 'name', k: 'a\u0000', id: '01900000-0000-7000-8000-000000000001' };
    expectFieldError(await call(`${ctx.baseUrl}/api/v2/assets?sort=name&cursor=${legacy(byName)}`), 'cursor');
    await awaitJob(ctx, `/api/v2/scrubs/${started.body.id}`);
  });
});
