/**
 * Issue 26, F2: no multipart upload outlives its session. The store may do a CreateMultipartUpload
 * and answer 503 (its answer lost); the SDK tries again, and the store opens a second one at the
 * same key: the session completes one, and the other must not wait for the lifecycle's 24-hour
 * sweep. Nor may one at a key no session row names (an open killed between the create and the row)
 * outlive the permanent deletion of its asset.
 */
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { uploadAsset, bytesOf } from './support/assets';
import { completeUpload, createUpload, openMultipartKeys, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { startS3Proxy, type ProxiedRequest, type S3Proxy } from './support/s3Proxy';

const MiB = 1024 * 1024;
const ctx = useTestService({}, { worker: false });
let proxy: S3Proxy;

beforeAll(async () => {
  proxy = await startS3Proxy(ctx.config.s3.endpoint);
  await ctx.startWorker({ s3Endpoint: proxy.url });
});

afterAll(async () => {
  await proxy?.close();
});

const isCreateMultipart = (req: ProxiedRequest) => req.method === 'POST' && /[?&]uploads(=|&|$)/.test(req.path);

/** The store opens each key's first multipart upload, then answers 503 instead of its id. */
function loseFirstCreateAnswers(): void {
  const answered = new Set<string>();
  proxy.rewriteAnswers(
    (req) => {
      const key = req.path.split('?')[0];
      if (!isCreateMultipart(req) || answered.has(key)) return false;
      answered.add(key);
      return true;
    },
    (answer) => ({
      status: 503,
      headers: { ...answer.headers, 'content-type': 'application/xml' },
      body: Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected after the create</Message></Error>'),
    }),
  );
}

test('a session whose CreateMultipartUpload was retried leaves no multipart upload open once committed', async () => {
  loseFirstCreateAnswers();
  const file = bytesOf(1024);
  const created = await createUpload(ctx.baseUrl, { name: 'retried-create.bin', size_bytes: file.length, part_size_bytes: 5 * MiB });
  proxy.rewriteAnswers();
  expect(created.status).toBe(201);
  const row = await ctx.db('upload_sessions').where({ id: created.body.id }).first();
  // The fault happened: two multipart uploads at the session's key.
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, row.object_key)).toEqual([row.object_key, row.object_key]);
  expect((await putPart(ctx.baseUrl, created.body.id, 1, file)).status).toBe(200);
  const done = await completeUpload(ctx.baseUrl, created.body.id);
  expect(done.status).toBe(200);
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, row.object_key)).toEqual([]);
}, 120_000);

test('a session whose CreateMultipartUpload was retried leaves none open once aborted', async () => {
  loseFirstCreateAnswers();
  const created = await createUpload(ctx.baseUrl, { name: 'retried-then-aborted.bin', size_bytes: 6 * MiB, part_size_bytes: 5 * MiB });
  proxy.rewriteAnswers();
  expect(created.status).toBe(201);
  const row = await ctx.db('upload_sessions').where({ id: created.body.id }).first();
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, row.object_key)).toHaveLength(2);
  expect((await call(`${ctx.baseUrl}/api/v2/uploads/${created.body.id}`, { method: 'DELETE' })).status).toBe(204);
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, row.object_key)).toEqual([]);
}, 120_000);

test("a permanent deletion aborts the multipart uploads under its asset's prefix that no session names", async () => {
  const uploaded = await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'doomed.bin' });
  expect(uploaded.status).toBe(201);
  const assetId: string = uploaded.body.id;
  const prefix = `assets/${assetId}/`;
  // What an open killed between its CreateMultipartUpload and its row leaves.
  await ctx.s3.send(new CreateMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: `${prefix}orphan` }));
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, prefix)).toEqual([`${prefix}orphan`]);
  const deleted = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  expect([202, 204]).toContain(deleted.status);
  await waitUntil('the asset purged', async () => !(await ctx.db('assets').where({ id: assetId }).first()), 60_000, 500);
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, prefix)).toEqual([]);
}, 120_000);
