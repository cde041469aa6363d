import { bearer } from './support/auth';
import { bytesOf, download, postForm, sha256, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { waitUntil } from './support/processes';
import { useTestService, startTestService } from './support/context';
import { call } from './support/http';
import { startTcpProxy } from './support/tcpProxy';
import { openMultipartKeys } from './support/chunked';
import net from 'node:net';

const MiB = 1024 * 1024;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const ctx = useTestService({ STORAGE_MAX_UPLOAD_SIZE: String(2 * MiB) });

/** What a rejected upload must leave unchanged: rows of every kind and objects in the bucket. */
async function footprint() {
  const count = async (table: string) => Number((await ctx.db(table).count({ n: '*' }))[0].n);
  return {
    assets: await count('assets'),
    versions: await count('asset_versions'),
    sessions: await count('upload_sessions'),
    events: await count('outbox_events'),
    objects: (await objectKeys(ctx, 'assets/')).length,
  };
}

async function expectRejected(
  res: { status: number; headers: Headers; body: { status: number; detail: string } },
  status: number,
  before: Awaited<ReturnType<typeof footprint>>,
) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.status).toBe(status);
  expect(res.body.detail).toEqual(expect.any(String));
  expect(await footprint()).toEqual(before);
}

describe('simple upload', () => {
  it('stores the file, answers 201 with the asset, and serves the same bytes back', async () => {
    const file = bytesOf(300_000);
    const res = await uploadAsset(ctx.baseUrl, file, {
      name: 'Ravenloft map.png',
      content_type: 'image/png',
      metadata: '{"campaign":"Curse"}',
      tags: 'map,gothic',
      checksum_sha256: sha256(file),
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Ravenloft map.png',
      content_type: 'image/png',
      size_bytes: file.length,
      checksum_sha256: sha256(file),
      version_count: 1,
      metadata: { campaign: 'Curse' },
      tags: ['map', 'gothic'],
      is_deleted: false,
      deleted_at: null,
    });
    expect(res.headers.get('location')).toBe(`/api/v2/assets/${res.body.id}`);
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(await objectKeys(ctx, `assets/${res.body.id}/`)).toHaveLength(1);
    // The session of a finished upload reads as completed, with the asset it made.
    const session = await ctx.db('upload_sessions').where({ result_asset_id: res.body.id }).first();
    expect(session.status).toBe('completed');
  });

  it('takes the name and type from the file part when the form gives none, and tags given as repeated fields', async () => {
    const res = await postForm(`${ctx.baseUrl}/api/v2/assets/upload`, bytesOf(10), { tags: ['a', 'b,c'] }, 'goblin.txt', 'text/plain');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'goblin.txt', content_type: 'text/plain', tags: ['a', 'b', 'c'] });
  });

  it('reads fields that come after the file part', async () => {
    const boundary = 'xyzBOUNDARY';
    const file = Buffer.from('after-fields');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nlate name\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"k":"v"}\r\n--${boundary}--\r\n`),
    ]);
    const res = await call(`${ctx.baseUrl}/api/v2/assets/upload`, {
      method: 'POST',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'late name', metadata: { k: 'v' }, checksum_sha256: sha256(file) });
  });

  it('accepts an empty file: size 0 and the SHA-256 of no bytes', async () => {
    const res = await uploadAsset(ctx.baseUrl, Buffer.alloc(0), { name: 'empty.txt' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ size_bytes: 0, checksum_sha256: EMPTY_SHA256 });
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${res.body.id}/content`);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(0);
  });

  it('stores names with slashes, dots and 1,000 characters as given, never as a path', async () => {
    for (const name of ['../../etc/passwd', 'maps/dungeon/level 1.png', 'é'.repeat(1000)]) {
      const res = await uploadAsset(ctx.baseUrl, bytesOf(5), { name });
      expect(res.status).toBe(201);
      expect(res.body.name).toBe(name);
      expect(await objectKeys(ctx, `assets/${res.body.id}/`)).toEqual([expect.stringMatching(new RegExp(`^assets/${res.body.id}/[0-9a-f-]{36}$`))]);
    }
  });

  it('answers 202 with a status URL when finalizing outlasts the wait, and the upload still completes', async () => {
    const impatient = await startTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '0' }, { worker: false });
    // Finalizing waits on S3, which the worker cannot reach until the 202 is in.
    const s3 = await startTcpProxy(Number(new URL(impatient.config.s3.endpoint).port));
    try {
      s3.down();
      await impatient.startWorker({ s3Endpoint: `http://127.0.0.1:${s3.port}` });
      const file = bytesOf(1000);
      const res = await uploadAsset(impatient.baseUrl, file, { name: 'later.bin' });
      expect(res.status).toBe(202);
      s3.up();
      expect(res.body.status_url).toBe(`/api/v2/uploads/${res.body.upload_id}`);
      const session = await waitUntil('the upload to complete', async () => {
        const read = (await call(`${impatient.baseUrl}${res.body.status_url}`)).body as { status: string; asset_id: string };
        return read.status === 'completed' && read;
      });
      const asset = await call(`${impatient.baseUrl}/api/v2/assets/${session.asset_id}`);
      expect(asset.body.checksum_sha256).toBe(sha256(file));
    } finally {
      s3.up();
      await impatient.stop();
      await s3.close();
    }
  });
});

describe('simple upload: bad input changes nothing', () => {
  const url = () => `${ctx.baseUrl}/api/v2/assets/upload`;

  it('415 when the body is not multipart', async () => {
    const before = await footprint();
    await expectRejected(await call(url(), { method: 'POST', json: { name: 'x' } }), 415, before);
  });

  it('400 when the form has no file part', async () => {
    const before = await footprint();
    await expectRejected(await postForm(url(), null, { name: 'nothing' }), 400, before);
  });

  it('400 when the form has two file parts', async () => {
    const before = await footprint();
    const form = new FormData();
    form.append('file', new Blob([bytesOf(1000)]), 'one.bin');
    form.append('file', new Blob([bytesOf(1000)]), 'two.bin');
    await expectRejected(await call(url(), { method: 'POST', body: form }), 400, before);
  });

  it('413 for a file over STORAGE_MAX_UPLOAD_SIZE, leaving no row and no object', async () => {
    const before = await footprint();
    const res = await uploadAsset(ctx.baseUrl, bytesOf(5 * MiB), { name: 'huge.bin' }).catch((err: Error) => ({ error: err }));
    // A client still sending when the server answers may see the 413 or a closed connection.
    if ('status' in res) await expectRejected(res, 413, before);
    else expect(await footprint()).toEqual(before);
  });

  it('400 for a malformed checksum_sha256', async () => {
    const before = await footprint();
    await expectRejected(await uploadAsset(ctx.baseUrl, bytesOf(100), { checksum_sha256: 'ABC123' }), 400, before);
  });

  it('422 when the file does not match checksum_sha256, leaving no row and no object', async () => {
    const before = await footprint();
    const res = await uploadAsset(ctx.baseUrl, bytesOf(100_000), { checksum_sha256: sha256(Buffer.from('something else')) });
    await expectRejected(res, 422, before);
    expect(res.body.detail).toMatch(/checksum/);
  });

  it.each([
    ['not JSON', '{nope'],
    ['an array', '["a"]'],
    ['a non-string value', '{"level": 3}'],
  ])('400 when metadata is %s', async (_what, metadata) => {
    const before = await footprint();
    const res = await uploadAsset(ctx.baseUrl, bytesOf(100), { metadata });
    await expectRejected(res, 400, before);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: expect.stringMatching(/^metadata/) })]);
  });

  it.each([
    ['a control character', 'bad\u0007name'],
    ['more than 1024 characters', 'n'.repeat(1025)],
  ])('400 for a name with %s', async (_what, name) => {
    const before = await footprint();
    await expectRejected(await uploadAsset(ctx.baseUrl, bytesOf(100), { name }), 400, before);
  });

  it('400 for a bad field after the file part: the file already staged goes, and its session', async () => {
    const before = await footprint();
    const boundary = 'xyzBOUNDARY';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      bytesOf(100_000),
      Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbad\u0007name\r\n--${boundary}--\r\n`),
    ]);
    const res = await call(url(), { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    await expectRejected(res, 400, before);
    expect(res.body.errors).toEqual([expect.objectContaining({ path: 'name' })]);
  });

  it('a client that goes in the middle of the file leaves no session, row or object behind', async () => {
    const before = await footprint();
    const boundary = 'cutBOUNDARY';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const socket = net.connect(Number(new URL(ctx.baseUrl).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /api/v2/assets/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${(await bearer()).authorization}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${MiB + head.length + 100}\r\n\r\n${head}`,
    );
    await new Promise((resolve) => socket.write(bytesOf(MiB / 2), resolve));
    // The session opens before the first byte is staged: wait for it, so the cut comes mid-file.
    await waitUntil('the upload session to open', async () => (await footprint()).sessions > before.sessions, 10_000, 50);
    socket.destroy();
    const after = await waitUntil(
      'the cut upload to be cleaned up',
      async () => {
        const now = await footprint();
        return JSON.stringify(now) === JSON.stringify(before) && now;
      },
      20_000,
      200,
    ).catch(() => footprint());
    expect(after).toEqual(before);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, 'assets/')).toEqual([]);
  });

  it('400 for an unknown form field', async () => {
    const before = await footprint();
    const form = new FormData();
    form.append('colour', 'red');
    form.append('file', new Blob([bytesOf(10)]), 'x.bin');
    await expectRejected(await call(url(), { method: 'POST', body: form }), 400, before);
  });

  it('404 for a new version of an unknown asset, 400 for a malformed id', async () => {
    const before = await footprint();
    await expectRejected(await postForm(`${ctx.baseUrl}/api/v2/assets/01900000-0000-7000-8000-00000000abcd/versions`, bytesOf(10)), 404, before);
    await expectRejected(await postForm(`${ctx.baseUrl}/api/v2/assets/not-a-uuid/versions`, bytesOf(10)), 400, before);
  });
});

describe('updated_at', () => {
  it('moves when the asset changes for its users, not when old versions are removed', async () => {
    const res = await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'clock.bin' });
    const at = async () => (await ctx.db('assets').where({ id: res.body.id }).first()).updated_at.getTime();
    const created = await at();
    // Timestamps have microseconds, but two writes in one millisecond would still be indistinguishable here.
    await new Promise((r) => setTimeout(r, 20));
    // What pruning and lifecycle do to the row: the asset's users see no change, and expire_assets must not either.
    await ctx
      .db('assets')
      .where({ id: res.body.id })
      .update({ version_count: ctx.db.raw('version_count + 0') });
    expect(await at()).toBe(created);
    await call(`${ctx.baseUrl}/api/v2/assets/${res.body.id}`, { method: 'PUT', json: { tags: ['touched'] } });
    expect(await at()).toBeGreaterThan(created);
  });
});
