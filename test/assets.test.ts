import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { startTestService, type TestContext } from './support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

async function objectKeys(prefix = 'assets/'): Promise<string[]> {
  const page = await ctx.s3.send(new ListObjectsV2Command({ Bucket: ctx.config.s3.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

describe('simple upload', () => {
  it('stores the file, answers 201 with the asset, and serves the same bytes back', async () => {
    const file = bytesOf(300_000);
    const res = await uploadAsset(ctx.baseUrl, file, { name: 'Ravenloft map.png', content_type: 'image/png', metadata: '{"campaign":"Curse"}', tags: 'map,gothic', checksum_sha256: sha256(file) });
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
    expect(await objectKeys(`assets/${res.body.id}/`)).toHaveLength(1);
  });
});
