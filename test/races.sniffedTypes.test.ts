/**
 * Issue 29's content types decided at an upload's commit, met by what can come between its read of
 * the object's first bytes and its transaction, or after that transaction: each held at a pause point
 * (lib/assets/pausePoints.ts), or crashed there so that its activity is retried.
 * - Another version committed meanwhile: the held version keeps the asset's type as it is at its own
 *   commit, read under the asset's lock.
 * - A crash after the commit: the retried commit answers what the first made (one version, its type).
 * - A crash before a refused commit: the retry refuses again, and leaves no version, object,
 *   multipart upload or reservation.
 */
import { holdAt } from '../lib/assets/pausePoints';
import { openMultipartKeys } from './support/chunked';
import { postForm } from './support/assets';
import { addAsset, addVersion, objectKeys, settledSession } from './support/catalog';
import { startTestService, type TestContext } from './support/context';
import { call, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';
import { jpegBytes, pngBytes } from './support/sampleFiles';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

jest.setTimeout(120_000);

const postVersion = (assetId: string, bytes: Buffer, fields: Record<string, string>) =>
  postForm(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`, bytes, fields);

/** The session of the upload `res` answered (201, 202 or a refusal): once it has ended, when the API's wait ran out first (202). */
async function endedSession(res: JsonAnswer): Promise<Record<string, any>> {
  // A 201 answers the version it made, whose session names it.
  if (res.status === 201) return ctx.db('upload_sessions').where({ version_id: res.body.id }).first();
  const uploadId = res.body.upload_id;
  if (res.status === 202)
    await waitUntil('the upload to end', async () => {
      const read = await call(`${ctx.baseUrl}${res.body.status_url}`);
      return !['open', 'completing'].includes(read.body.status);
    });
  return ctx.db('upload_sessions').where({ id: uploadId }).first();
}

const reservedBytes = async () => Number((await ctx.db('owner_usage').sum({ n: 'reserved_bytes' }))[0].n ?? 0);

test("a version without a type takes the asset's type as another version left it while it was between its read and its commit", async () => {
  const asset = (await addAsset(ctx.baseUrl, Buffer.from('first notes\n'), { name: 'notes.txt', content_type: 'text/plain' })).body;
  const hold = holdAt('type-sniffed', [asset.id]);
  const held = postVersion(asset.id, Buffer.from('second notes\n'), { content_type: 'application/octet-stream' });
  await hold.reached;
  const markdown = await addVersion(ctx.baseUrl, asset.id, Buffer.from('# third notes\n'), { content_type: 'text/markdown' });
  expect(markdown.body).toMatchObject({ version_number: 2, content_type: 'text/markdown' });
  hold.release();
  const res = await held;
  const session = await endedSession(res);
  expect(session).toMatchObject({ status: 'completed', content_type: 'text/markdown', version_number: 3 });
  const versions = await ctx.db('asset_versions').where({ asset_id: asset.id }).orderBy('version_number').select('version_number', 'content_type');
  expect(versions).toEqual([
    { version_number: 1, content_type: 'text/plain' },
    { version_number: 2, content_type: 'text/markdown' },
    { version_number: 3, content_type: 'text/markdown' },
  ]);
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`)).body.content_type).toBe('text/markdown');
});

test('a commit whose attempt crashed after its transaction is answered, retried, with what it made: one version, of the type decided then', async () => {
  const asset = (await addAsset(ctx.baseUrl, Buffer.from('notes\n'), { name: 'portrait', content_type: 'text/plain' })).body;
  const hold = holdAt('version-committed', [asset.id]);
  const held = postVersion(asset.id, pngBytes(), { content_type: 'application/octet-stream' });
  await hold.reached;
  hold.crash('after the commit');
  const res = await held;
  if (res.status !== 201) await settledSession(ctx.baseUrl, res);
  const versions = await ctx.db('asset_versions').where({ asset_id: asset.id }).orderBy('version_number').select('version_number', 'content_type');
  expect(versions).toEqual([
    { version_number: 1, content_type: 'text/plain' },
    { version_number: 2, content_type: 'image/png' },
  ]);
  expect(await endedSession(res)).toMatchObject({ status: 'completed', content_type: 'image/png', version_number: 2 });
});

test('a refused commit whose first attempt crashed after its read is refused again by its retry, and leaves nothing behind', async () => {
  const asset = (await addAsset(ctx.baseUrl, pngBytes(), { name: 'map.png' })).body;
  const reserved = await reservedBytes();
  const hold = holdAt('type-sniffed', [asset.id]);
  const held = postVersion(asset.id, jpegBytes(), { content_type: 'image/png' });
  await hold.reached;
  hold.crash('after the read');
  const res = await held;
  if (res.status !== 202) expect(res).toMatchObject({ status: 415, body: { declared_type: 'image/png', detected_type: 'image/jpeg' } });
  const session = await endedSession(res);
  expect(session).toMatchObject({
    status: 'failed',
    error: expect.stringMatching(/^content type mismatch: image\/png was declared, but the bytes are image\/jpeg/),
  });
  expect(await ctx.db('asset_versions').where({ asset_id: asset.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
  expect(await objectKeys(ctx, session.object_key)).toEqual([]);
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, session.object_key)).toEqual([]);
  expect(await reservedBytes()).toBe(reserved);
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}`)).body).toMatchObject({ content_type: 'image/png', version_count: 1 });
});
