/**
 * Issue 26, a finding of the consistency checker (test/consistency/FINDINGS.md): a simple upload of a
 * new version whose bytes reached the store after its asset was deleted for good left them there, an
 * object no row names and nothing removes. The test holds the upload's PutObject at a proxy in front
 * of the API's store, deletes the asset for good meanwhile (its upload's run ends, its rows go), then
 * lets the PutObject through: the upload is refused, and its bytes go too.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { buildApp } from '../api/app';
import { createS3Client } from '../lib/platform/s3Client';
import { bytesOf, postForm, uploadAsset } from './support/assets';
import { serve, useTestService, type ServedApp } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';

const ctx = useTestService();
let proxy: S3Proxy;
let proxiedS3: S3Client;
let api: ServedApp;

beforeAll(async () => {
  proxy = await startS3Proxy(ctx.config.s3.endpoint!);
  proxiedS3 = createS3Client({ ...ctx.config.s3, endpoint: proxy.url });
  api = await serve(buildApp({ config: ctx.config, db: ctx.db, s3: proxiedS3, temporal: ctx.temporal, logger: ctx.logger }));
});
afterAll(async () => {
  await api?.close();
  await proxy?.close();
  proxiedS3?.destroy();
});

async function objectsUnder(assetId: string): Promise<string[]> {
  const page = await ctx.s3.send(new ListObjectsV2Command({ Bucket: ctx.config.s3.bucket, Prefix: `assets/${assetId}/` }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

it('removes the bytes of a new version whose asset was deleted for good while they were being stored', async () => {
  const created = await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'race/staged.bin' });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  proxy.hold((req) => req.method === 'PUT' && !req.copy && req.path.includes(`/assets/${assetId}/`));
  const upload = postForm(`${api.baseUrl}/api/v2/assets/${assetId}/versions`, bytesOf(2000), { name: 'race/staged-v2.bin' });
  await waitUntil('the new version to be on its way to the store', async () => proxy.held() > 0);

  const deleted = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  expect([202, 204]).toContain(deleted.status);
  await waitUntil(
    'the asset to be deleted for good',
    async () => !(await ctx.db('assets').where({ id: assetId }).first('id')) && (await objectsUnder(assetId)).length === 0,
  );
  proxy.release();

  const answer = await upload;
  expect(answer.status).toBeGreaterThanOrEqual(400);
  await waitUntil('no byte of the asset left in the store', async () => (await objectsUnder(assetId)).length === 0, 30_000);
});
