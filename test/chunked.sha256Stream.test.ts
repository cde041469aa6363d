/**
 * Chunked sessions whose parts come one after another are hashed as the parts stream through the
 * API (lib/uploads/chunkedHashStates.ts), so their finish reads nothing back; parts out of order, or
 * not the bytes hashed, keep the read-back. The read-back is `verifyObject`, the one activity of the
 * finish that the run schedules on the server besides `assembleParts` (the catalog steps run locally).
 */
import { freePorts } from '../scripts/stack';
import { bytesOf, download, sha256 } from './support/assets';
import { objectKeys } from './support/catalog';
import { PART, completeUpload, createUpload, getUpload, openMultipartKeys, partOf, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { expectProblem } from './support/http';
import { envFor, spawnService, waitUntil } from './support/processes';

const ctx = useTestService();

/** Three parts: two full 5 MiB ones and a short last one. */
const SIZE = 2 * PART + 98_765;

async function scheduledActivities(uploadId: string): Promise<string[]> {
  const history = await ctx.temporal.client.workflow.getHandle(`upload-${uploadId}`).fetchHistory();
  return history.events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}

async function open(file: Buffer, checksum = sha256(file), api = ctx.baseUrl): Promise<string> {
  const res = await createUpload(api, { name: 'Chult atlas.bin', size_bytes: file.length, checksum_sha256: checksum, part_size_bytes: PART });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function send(id: string, file: Buffer, order: number[], api = ctx.baseUrl): Promise<void> {
  for (const n of order) expect((await putPart(api, id, n, partOf(file, n))).status).toBe(200);
}

async function expectStored(done: Awaited<ReturnType<typeof completeUpload>>, file: Buffer): Promise<void> {
  expect(done.status).toBe(200);
  expect(done.body.version).toMatchObject({ size_bytes: file.length, checksum_sha256: sha256(file) });
  const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
  expect(sha256(got.body)).toBe(sha256(file));
}

it('parts sent one after another, the second by another API process, complete without a read-back', async () => {
  const file = bytesOf(SIZE);
  const [port] = await freePorts(1);
  const other = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port) }));
  try {
    const otherApi = `http://127.0.0.1:${port}`;
    await waitUntil('the other API to listen', async () => (await fetch(`${otherApi}/health/live`).catch(() => undefined))?.ok);
    const id = await open(file);
    await send(id, file, [1]);
    // The other process goes on from the hash state the first saved at the end of part 1.
    await send(id, file, [2], otherApi);
    await send(id, file, [3]);
    await expectStored(await completeUpload(ctx.baseUrl, id), file);
    expect(await scheduledActivities(id)).toEqual(['assembleParts']);
  } finally {
    await other.kill();
  }
}, 90_000);

it('parts out of order are read back, and the version holds the declared bytes', async () => {
  const file = bytesOf(SIZE);
  const id = await open(file);
  await send(id, file, [2, 1, 3]);
  await expectStored(await completeUpload(ctx.baseUrl, id), file);
  expect(await scheduledActivities(id)).toEqual(['assembleParts', 'verifyObject']);
});

it('a part sent again with other bytes after the parts were hashed is read back: what is committed is what S3 holds', async () => {
  const hashed = bytesOf(SIZE);
  const file = Buffer.concat([partOf(hashed, 1), bytesOf(PART).fill(7), partOf(hashed, 3)]);
  const id = await open(hashed, sha256(file));
  await send(id, hashed, [1, 2, 3]);
  expect((await putPart(ctx.baseUrl, id, 2, partOf(file, 2))).status).toBe(200);
  await expectStored(await completeUpload(ctx.baseUrl, id), file);
  expect(await scheduledActivities(id)).toEqual(['assembleParts', 'verifyObject']);
});

describe('a wrong checksum_sha256 fails the session (422) and keeps no bytes', () => {
  it.each([
    ['in order, from the streamed hash', [1, 2, 3], ['assembleParts']],
    ['out of order, from the read-back', [3, 1, 2], ['assembleParts', 'verifyObject']],
  ])('%s', async (_how, order, activities) => {
    const file = bytesOf(SIZE);
    const id = await open(file, sha256(Buffer.from('not this file')));
    await send(id, file, order);
    const { result_asset_id: assetId } = await ctx.db('upload_sessions').where({ id }).first();

    expectProblem(await completeUpload(ctx.baseUrl, id), 422);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({
      id,
      status: 'failed',
      asset_id: null,
      version_id: null,
      error: expect.stringMatching(/checksum/),
    });
    expect(await ctx.db('asset_versions').where({ upload_id: id }).first()).toBeUndefined();
    expect(await ctx.db('assets').where({ id: assetId }).first()).toBeUndefined();
    expect(await objectKeys(ctx, `assets/${assetId}/`)).toEqual([]);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${assetId}/`)).toEqual([]);
    expect(await scheduledActivities(id)).toEqual(activities);
  });
});
