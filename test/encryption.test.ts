/**
 * Encryption at rest, looked for where the bytes end up: SeaweedFS's volume files. A file holding a
 * unique marker is found there as it was sent when the service writes without STORAGE_S3_SSE, and not
 * at all with AES256, through every write path (simple and chunked uploads, version restores, backups
 * and restores), while every read gives the bytes back exactly.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { download, postForm, sha256 } from './support/assets';
import { keysOf } from './support/catalog';
import { completeUpload, createUpload, PART, putAllParts } from './support/chunked';
import { startTestService, type TestContext } from './support/context';
import { call, type JsonAnswer } from './support/http';
import { awaitJob, settled } from './support/backups';
import { waitUntil } from './support/processes';

const DATA_DIR = process.env.STORAGE_TEST_SEAWEED_DATA_DIR;

let plain: TestContext;
let sealed: TestContext;
beforeAll(async () => {
  if (!DATA_DIR) throw new Error('STORAGE_TEST_SEAWEED_DATA_DIR: set it to the data folder of the SeaweedFS the tests reuse');
  [plain, sealed] = await Promise.all([startTestService({ STORAGE_S3_SSE: '' }), startTestService({ STORAGE_S3_SSE: 'AES256' })]);
});
afterAll(async () => {
  await Promise.all([plain?.stop(), sealed?.stop()]);
});

/** Random bytes (which the store does not compress) around a marker no other file holds. */
function markedFile(size: number): { file: Buffer; marker: Buffer } {
  const marker = Buffer.from(`storage-encryption-marker-${randomBytes(16).toString('hex')}-end`);
  const half = Math.floor((size - marker.length) / 2);
  return { file: Buffer.concat([randomBytes(half), marker, randomBytes(size - half - marker.length)]), marker };
}

/** SeaweedFS keeps a bucket's objects in volume files named after it: `<bucket>_<n>.dat`. */
function volumeFilesOf(bucket: string): string[] {
  return fs
    .readdirSync(DATA_DIR!)
    .filter((name) => name.startsWith(`${bucket}_`) && name.endsWith('.dat'))
    .map((name) => path.join(DATA_DIR!, name));
}

function storedBytes(bucket: string): number {
  return volumeFilesOf(bucket).reduce((sum, file) => sum + fs.statSync(file).size, 0);
}

function foundIn(bucket: string, marker: Buffer): boolean {
  return volumeFilesOf(bucket).some((file) => fs.readFileSync(file).includes(marker));
}

async function encryptionOf(ctx: TestContext, bucket: string, prefix: string): Promise<Record<string, string | undefined>> {
  const keys = await keysOf(ctx, bucket, prefix);
  expect(keys.length).toBeGreaterThan(0);
  const heads = await Promise.all(keys.map((key) => ctx.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))));
  return Object.fromEntries(keys.map((key, i) => [key, heads[i].ServerSideEncryption]));
}

const contentOf = (ctx: TestContext, url: string, headers: Record<string, string> = {}) => download(`${ctx.baseUrl}${url}`, headers);

const upload = (ctx: TestContext, file: Buffer): Promise<JsonAnswer> =>
  postForm(`${ctx.baseUrl}/api/v2/assets/upload`, file, { name: 'sealed.map', content_type: 'application/octet-stream' }, 'sealed.map');

describe('the volume files', () => {
  it('hold an upload as it was sent without STORAGE_S3_SSE, and no trace of it with AES256', async () => {
    const bare = markedFile(40_000);
    const hidden = markedFile(40_000);
    const before = storedBytes(sealed.config.s3.bucket);
    const [a, b] = await Promise.all([upload(plain, bare.file), upload(sealed, hidden.file)]);
    expect([a.status, b.status]).toEqual([201, 201]);

    await waitUntil('the marker written without encryption to be on disk', async () => foundIn(plain.config.s3.bucket, bare.marker));
    await waitUntil('the encrypted object to be on disk', async () => storedBytes(sealed.config.s3.bucket) >= before + hidden.file.length);
    expect(foundIn(sealed.config.s3.bucket, hidden.marker)).toBe(false);

    expect(Object.values(await encryptionOf(plain, plain.config.s3.bucket, `assets/${a.body.id}/`))).toEqual([undefined]);
    expect(Object.values(await encryptionOf(sealed, sealed.config.s3.bucket, `assets/${b.body.id}/`))).toEqual(['AES256']);
    expect((await contentOf(sealed, `/api/v2/assets/${b.body.id}/content`)).body.equals(hidden.file)).toBe(true);
  });

  it('say the mode in use on /health', async () => {
    expect((await call(`${sealed.baseUrl}/health`)).body.checks.object_store).toMatchObject({ status: 'ok', server_side_encryption: 'AES256' });
    expect((await call(`${plain.baseUrl}/health`)).body.checks.object_store).toMatchObject({ status: 'ok', server_side_encryption: 'none' });
  });
});

describe('with AES256, every write path encrypts and every read gives the bytes back', () => {
  it('downloads and ranges', async () => {
    const { file } = markedFile(30_000);
    const { body: asset } = await upload(sealed, file);
    const whole = await contentOf(sealed, `/api/v2/assets/${asset.id}/content`);
    expect(sha256(whole.body)).toBe(sha256(file));
    const range = await contentOf(sealed, `/api/v2/assets/${asset.id}/content`, { range: 'bytes=12345-23456' });
    expect(range.status).toBe(206);
    expect(range.body.equals(file.subarray(12345, 23457))).toBe(true);
    const tail = await contentOf(sealed, `/api/v2/assets/${asset.id}/content`, { range: 'bytes=-100' });
    expect(tail.body.equals(file.subarray(-100))).toBe(true);
  });

  it('a chunked upload, read across its part boundary', async () => {
    const { file, marker } = markedFile(2 * PART + 777);
    const created = await createUpload(sealed.baseUrl, { name: 'big.map', size_bytes: file.length, checksum_sha256: sha256(file), part_size_bytes: PART });
    expect(created.status).toBe(201);
    await putAllParts(sealed.baseUrl, created.body.id, file);
    const done = await completeUpload(sealed.baseUrl, created.body.id);
    expect(done.status).toBe(200);
    const id = done.body.asset.id;
    expect(Object.values(await encryptionOf(sealed, sealed.config.s3.bucket, `assets/${id}/`))).toEqual(['AES256']);
    const across = await contentOf(sealed, `/api/v2/assets/${id}/content`, { range: `bytes=${PART - 50}-${PART + 49}` });
    expect(across.body.equals(file.subarray(PART - 50, PART + 50))).toBe(true);
    expect(sha256((await contentOf(sealed, `/api/v2/assets/${id}/content`)).body)).toBe(sha256(file));
    expect(foundIn(sealed.config.s3.bucket, marker)).toBe(false);
  });

  it('a version restore, a backup, and a restore after a permanent delete', async () => {
    const first = markedFile(20_000);
    const second = markedFile(25_000);
    const { body: asset } = await upload(sealed, first.file);
    const v2 = await postForm(`${sealed.baseUrl}/api/v2/assets/${asset.id}/versions`, second.file, {}, 'second.map');
    expect(v2.status).toBe(201);
    const restoredVersion = await call(`${sealed.baseUrl}/api/v2/assets/${asset.id}/versions/${asset.current_version_id}/restore`, { method: 'POST' });
    expect(restoredVersion.status).toBe(201);
    expect(sha256((await contentOf(sealed, `/api/v2/assets/${asset.id}/content`)).body)).toBe(sha256(first.file));
    expect(Object.values(await encryptionOf(sealed, sealed.config.s3.bucket, `assets/${asset.id}/`))).toEqual(['AES256', 'AES256', 'AES256']);

    const started = await call(`${sealed.baseUrl}/api/v2/backups`, { method: 'POST', json: { asset_ids: [asset.id], include_all_versions: true } });
    expect(started.status).toBe(202);
    expect(await awaitJob(sealed, `/api/v2/backups/${started.body.id}`)).toMatchObject({ status: 'completed' });
    const backupBucket = sealed.config.s3.backupBucket;
    expect(new Set(Object.values(await encryptionOf(sealed, backupBucket, '')))).toEqual(new Set(['AES256']));
    for (const { marker } of [first, second]) expect(foundIn(backupBucket, marker)).toBe(false);

    const deleted = await call(`${sealed.baseUrl}/api/v2/assets/${asset.id}?permanent=true`, { method: 'DELETE' });
    if (deleted.status === 202) await settled(sealed, deleted.body.workflow_id);
    else expect(deleted.status).toBe(204);
    expect((await call(`${sealed.baseUrl}/api/v2/assets/${asset.id}`)).status).toBe(404);

    const restore = await call(`${sealed.baseUrl}/api/v2/backups/${started.body.id}/restore`, { method: 'POST', json: { mode: 'missing', dry_run: false } });
    expect(restore.status).toBe(202);
    expect(await awaitJob(sealed, `/api/v2/restores/${restore.body.id}`)).toMatchObject({ status: 'completed' });
    expect(sha256((await contentOf(sealed, `/api/v2/assets/${asset.id}/content`)).body)).toBe(sha256(first.file));
    const versions = await call(`${sealed.baseUrl}/api/v2/assets/${asset.id}/versions`);
    const secondVersion = versions.body.items.find((v: { version_number: number }) => v.version_number === 2);
    expect(sha256((await contentOf(sealed, `/api/v2/assets/${asset.id}/versions/${secondVersion.id}/content`)).body)).toBe(sha256(second.file));
    expect(new Set(Object.values(await encryptionOf(sealed, sealed.config.s3.bucket, `assets/${asset.id}/`)))).toEqual(new Set(['AES256']));
    for (const { marker } of [first, second]) expect(foundIn(sealed.config.s3.bucket, marker)).toBe(false);
  });
});
