import { bearer } from './support/auth';
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { PART, abortUpload, completeUpload, createUpload, getUpload, openMultipartKeys, partOf, partUrl, putAllParts, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';

const ctx = useTestService();

/** Three parts: two full 5 MiB ones and a short last one. */
const SIZE = 2 * PART + 123_457;
const LAST = SIZE - 2 * PART;

function keys(prefix: string) {
  return objectKeys(ctx, prefix);
}

/** A name no other request uses, so "no session was opened" can be checked by name. */
function uniqueName(what: string): string {
  return `${what} ${randomUUID()}.bin`;
}

async function sessionsNamed(name: string): Promise<number> {
  const [{ count }] = await ctx.db('upload_sessions').where({ name }).count({ count: '*' });
  return Number(count);
}

/** Opens a session for `file` and checks the 201 answer. */
async function open(file: Buffer, extra: Record<string, unknown> = {}) {
  const res = await createUpload(ctx.baseUrl, {
    name: 'Barovia atlas.bin',
    size_bytes: file.length,
    checksum_sha256: sha256(file),
    part_size_bytes: PART,
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.body;
}

/** The asset id a still-open session will create (not shown to clients before completion). */
async function resultAssetId(uploadId: string): Promise<string> {
  const row = await ctx.db('upload_sessions').where({ id: uploadId }).first();
  return row.result_asset_id;
}

describe('chunked upload: happy path', () => {
  it('takes parts out of order, in parallel and re-sent, and commits exactly the declared bytes', async () => {
    const file = bytesOf(SIZE);
    const res = await createUpload(ctx.baseUrl, {
      name: 'Barovia atlas.bin',
      size_bytes: SIZE,
      content_type: 'application/x-atlas',
      checksum_sha256: sha256(file),
      part_size_bytes: PART,
      metadata: { campaign: 'Curse' },
      tags: ['map', 'gothic'],
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v2/uploads/${res.body.id}`);
    expect(res.body).toMatchObject({
      status: 'open',
      name: 'Barovia atlas.bin',
      content_type: 'application/x-atlas',
      size_bytes: SIZE,
      checksum_sha256: sha256(file),
      part_size_bytes: PART,
      part_count: 3,
      parts_received: [],
      bytes_received: 0,
      asset_id: null,
      version_id: null,
      error: null,
    });
    const id: string = res.body.id;

    // The last part first.
    const p3 = await putPart(ctx.baseUrl, id, 3, partOf(file, 3));
    expect(p3.status).toBe(200);
    expect(p3.body).toEqual({ part_number: 3, size_bytes: LAST, checksum_sha256: sha256(partOf(file, 3)) });
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [3], bytes_received: LAST });

    // Part 2 first with wrong bytes of the right size (replaced below), in parallel with part 1.
    const wrong2 = bytesOf(PART);
    const [p1, p2wrong] = await Promise.all([putPart(ctx.baseUrl, id, 1, partOf(file, 1)), putPart(ctx.baseUrl, id, 2, wrong2)]);
    expect(p1.status).toBe(200);
    expect(p1.body).toEqual({ part_number: 1, size_bytes: PART, checksum_sha256: sha256(partOf(file, 1)) });
    expect(p2wrong.status).toBe(200);
    expect(p2wrong.body.checksum_sha256).toBe(sha256(wrong2));

    // Re-sending part 2 replaces it.
    const p2 = await putPart(ctx.baseUrl, id, 2, partOf(file, 2), { 'X-Checksum-SHA256': sha256(partOf(file, 2)) });
    expect(p2.status).toBe(200);
    expect(p2.body).toEqual({ part_number: 2, size_bytes: PART, checksum_sha256: sha256(partOf(file, 2)) });

    const status = await getUpload(ctx.baseUrl, id);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ id, status: 'open', parts_received: [1, 2, 3], bytes_received: SIZE });

    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    const assetId: string = done.body.asset.id;
    expect(done.body.upload).toMatchObject({
      id,
      status: 'completed',
      parts_received: [1, 2, 3],
      bytes_received: SIZE,
      asset_id: assetId,
      version_id: done.body.version.id,
    });
    expect(done.body.asset).toMatchObject({
      name: 'Barovia atlas.bin',
      content_type: 'application/x-atlas',
      size_bytes: SIZE,
      checksum_sha256: sha256(file),
      current_version_id: done.body.version.id,
      version_count: 1,
      metadata: { campaign: 'Curse' },
      tags: ['map', 'gothic'],
      is_deleted: false,
    });
    expect(done.body.version).toMatchObject({ asset_id: assetId, version_number: 1, size_bytes: SIZE, checksum_sha256: sha256(file), is_current: true });

    const after = await getUpload(ctx.baseUrl, id);
    expect(after.body).toMatchObject({ status: 'completed', asset_id: assetId, version_id: done.body.version.id });

    const got = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
    expect(got.status).toBe(200);
    expect(got.body.length).toBe(SIZE);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(got.headers.get('etag')).toBe(`"${sha256(file)}"`);
    expect(await keys(`assets/${assetId}/`)).toHaveLength(1);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${assetId}/`)).toEqual([]);
  });

  it('keeps the last of many sends of the same part', async () => {
    // Stores that keep every send of a part (SeaweedFS) list them in no useful order; whichever the
    // service picks must be the last one sent. Two parts sent four times each make a wrong pick show.
    const file = bytesOf(2 * PART);
    const { id } = await open(file);
    for (let round = 0; round < 3; round++) {
      const [a, b] = await Promise.all([putPart(ctx.baseUrl, id, 1, bytesOf(PART)), putPart(ctx.baseUrl, id, 2, bytesOf(PART))]);
      expect([a.status, b.status]).toEqual([200, 200]);
    }
    expect((await putPart(ctx.baseUrl, id, 1, partOf(file, 1))).status).toBe(200);
    expect((await putPart(ctx.baseUrl, id, 2, partOf(file, 2))).status).toBe(200);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ parts_received: [1, 2], bytes_received: 2 * PART });

    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    expect(done.body.asset.checksum_sha256).toBe(sha256(file));
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });

  it('takes a part PUT straight to a presigned URL beside parts sent through the API', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);

    const presigned = await partUrl(ctx.baseUrl, id, 2);
    expect(presigned.status).toBe(200);
    expect(presigned.body).toEqual({ url: expect.stringMatching(/^https?:\/\//), method: 'PUT', expires_at: expect.any(String) });
    expect(Date.parse(presigned.body.expires_at)).toBeGreaterThan(Date.now());
    // The URL is signed for the part's exact size: the store refuses other bytes.
    const short = await fetch(presigned.body.url, { method: 'PUT', body: partOf(file, 2).subarray(1) });
    expect(short.ok).toBe(false);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ parts_received: [], bytes_received: 0 });
    const put = await fetch(presigned.body.url, { method: 'PUT', body: partOf(file, 2) });
    expect(put.status).toBe(200);

    expect((await putPart(ctx.baseUrl, id, 1, partOf(file, 1))).status).toBe(200);
    expect((await putPart(ctx.baseUrl, id, 3, partOf(file, 3))).status).toBe(200);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ parts_received: [1, 2, 3], bytes_received: SIZE });

    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    expect(done.body.asset).toMatchObject({ size_bytes: SIZE, checksum_sha256: sha256(file) });
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });
});

describe('chunked upload: new version of an existing asset', () => {
  it('adds a current version 2 to the asset named by asset_id', async () => {
    const first = bytesOf(200_000);
    const created = await uploadAsset(ctx.baseUrl, first, { name: 'Strahd portrait.png', content_type: 'image/png', tags: 'npc' });
    expect(created.status).toBe(201);
    const assetId: string = created.body.id;

    const file = bytesOf(PART + 4321);
    const session = await open(file, { asset_id: assetId, name: 'Strahd portrait v2.png', content_type: 'image/png' });
    expect(session.part_count).toBe(2);
    expect(session.asset_id).toBe(assetId);
    await putAllParts(ctx.baseUrl, session.id, file);
    const done = await completeUpload(ctx.baseUrl, session.id);
    expect(done.status).toBe(200);
    expect(done.body.asset).toMatchObject({
      id: assetId,
      name: 'Strahd portrait v2.png',
      version_count: 2,
      size_bytes: file.length,
      checksum_sha256: sha256(file),
      tags: ['npc'],
    });
    expect(done.body.version).toMatchObject({ asset_id: assetId, version_number: 2, is_current: true, checksum_sha256: sha256(file) });

    const versions = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`);
    expect(versions.status).toBe(200);
    expect(versions.body.items.map((v: { version_number: number; is_current: boolean }) => [v.version_number, v.is_current])).toEqual([
      [2, true],
      [1, false],
    ]);
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
    expect(await keys(`assets/${assetId}/`)).toHaveLength(2);
  });

  it('answers 404 for an unknown asset_id and opens no session', async () => {
    const name = uniqueName('orphan');
    const res = await createUpload(ctx.baseUrl, { name, size_bytes: PART, part_size_bytes: PART, asset_id: '01890000-0000-7000-8000-000000000000' });
    expectProblem(res, 404);
    expect(await sessionsNamed(name)).toBe(0);
  });
});

describe('chunked upload: bad requests', () => {
  it('refuses part_size_bytes under 5 MiB with 400', async () => {
    const name = uniqueName('small parts');
    const res = await createUpload(ctx.baseUrl, { name, size_bytes: 10 * PART, part_size_bytes: PART - 1 });
    expectProblem(res, 400);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'part_size_bytes' })]));
    expect(await sessionsNamed(name)).toBe(0);
  });

  it('refuses a size over STORAGE_MAX_UPLOAD_SIZE with 413, and takes one of exactly that size', async () => {
    const max = ctx.config.uploads.maxSizeBytes;
    const name = uniqueName('huge');
    const res = await createUpload(ctx.baseUrl, { name, size_bytes: max + 1, part_size_bytes: PART });
    expectProblem(res, 413);
    expect(await sessionsNamed(name)).toBe(0);

    const atLimit = await createUpload(ctx.baseUrl, { name: 'limit.bin', size_bytes: max, part_size_bytes: PART });
    expect(atLimit.status).toBe(201);
    expect(atLimit.body.part_count).toBe(Math.ceil(max / PART));
    expect((await abortUpload(ctx.baseUrl, atLimit.body.id)).status).toBe(204);
  });

  it('answers 400 for a malformed upload id and 404 for an unknown one, on every route', async () => {
    const unknown = '01890000-0000-7000-8000-000000000001';
    const part = Buffer.alloc(16);
    for (const [id, status] of [
      ['not-a-uuid', 400],
      [unknown, 404],
    ] as const) {
      expectProblem(await getUpload(ctx.baseUrl, id), status);
      expectProblem(await putPart(ctx.baseUrl, id, 1, part), status);
      expectProblem(await partUrl(ctx.baseUrl, id, 1), status);
      expectProblem(await completeUpload(ctx.baseUrl, id), status);
      expectProblem(await abortUpload(ctx.baseUrl, id), status);
    }
  });

  it('refuses part number 0, a non-number and one beyond part_count with 400, keeping nothing', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);
    expectProblem(await putPart(ctx.baseUrl, id, 0, partOf(file, 1)), 400);
    expectProblem(await putPart(ctx.baseUrl, id, 'one', partOf(file, 1)), 400);
    expectProblem(await putPart(ctx.baseUrl, id, 4, partOf(file, 3)), 400);
    expectProblem(await putPart(ctx.baseUrl, id, 4, partOf(file, 1)), 400);
    expectProblem(await partUrl(ctx.baseUrl, id, 0), 400);
    expectProblem(await partUrl(ctx.baseUrl, id, 4), 400);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [], bytes_received: 0 });
    expect((await abortUpload(ctx.baseUrl, id)).status).toBe(204);
  });

  it('refuses a non-last part not of the part size and a last part of the wrong size with 400, keeping nothing', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);
    const short = await putPart(ctx.baseUrl, id, 1, partOf(file, 1).subarray(0, PART - 1));
    expectProblem(short, 400);
    expectProblem(await putPart(ctx.baseUrl, id, 2, Buffer.concat([partOf(file, 2), Buffer.alloc(1)])), 400);
    expectProblem(await putPart(ctx.baseUrl, id, 3, partOf(file, 3).subarray(1)), 400);
    expectProblem(await putPart(ctx.baseUrl, id, 3, partOf(file, 1)), 400);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [], bytes_received: 0 });

    // The session is unharmed: the right parts still complete it.
    await putAllParts(ctx.baseUrl, id, file);
    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    expect(done.body.asset.checksum_sha256).toBe(sha256(file));
  });

  it('refuses a part sent without Content-Length with 400', async () => {
    const file = bytesOf(PART + 100);
    const { id } = await open(file);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(partOf(file, 2));
        controller.close();
      },
    });
    const res = await fetch(`${ctx.baseUrl}/api/v2/uploads/${id}/parts/2`, { method: 'PUT', headers: await bearer(), body, duplex: 'half' } as RequestInit & {
      duplex: 'half';
    });
    // Parsed here, in the test's realm, as `call` does (res.json() builds arrays of another realm).
    const answer: JsonAnswer = { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) };
    expectProblem(answer, 400);
    expect(answer.body.errors).toEqual([{ path: 'content-length', message: expect.stringMatching(/Content-Length is required/) }]);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [], bytes_received: 0 });
    expect((await abortUpload(ctx.baseUrl, id)).status).toBe(204);
  });

  it('refuses a part whose bytes do not match X-Checksum-SHA256 with 422 and keeps the part it had', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);
    const damaged = Buffer.from(partOf(file, 1));
    damaged[1000] ^= 0xff;

    // A new part that does not match is not kept.
    const bad = await putPart(ctx.baseUrl, id, 1, damaged, { 'X-Checksum-SHA256': sha256(partOf(file, 1)) });
    expectProblem(bad, 422);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ parts_received: [], bytes_received: 0 });

    // A damaged re-send does not replace the good part already there.
    expect((await putPart(ctx.baseUrl, id, 1, partOf(file, 1))).status).toBe(200);
    expectProblem(await putPart(ctx.baseUrl, id, 1, damaged, { 'X-Checksum-SHA256': sha256(partOf(file, 1)) }), 422);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ parts_received: [1], bytes_received: PART });

    expect((await putPart(ctx.baseUrl, id, 2, partOf(file, 2))).status).toBe(200);
    expect((await putPart(ctx.baseUrl, id, 3, partOf(file, 3))).status).toBe(200);
    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });
});

describe('chunked upload: completing', () => {
  it('answers 409 with missing_parts while parts are missing; the session stays open and completes later', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);
    expect((await putPart(ctx.baseUrl, id, 2, partOf(file, 2))).status).toBe(200);

    const early = await completeUpload(ctx.baseUrl, id);
    expectProblem(early, 409);
    expect(early.body.missing_parts).toEqual([1, 3]);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [2], bytes_received: PART });
    expect(
      await ctx
        .db('assets')
        .where({ id: await resultAssetId(id) })
        .first(),
    ).toBeUndefined();

    expect((await putPart(ctx.baseUrl, id, 3, partOf(file, 3))).status).toBe(200);
    const stillEarly = await completeUpload(ctx.baseUrl, id);
    expectProblem(stillEarly, 409);
    expect(stillEarly.body.missing_parts).toEqual([1]);

    expect((await putPart(ctx.baseUrl, id, 1, partOf(file, 1))).status).toBe(200);
    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    expect(done.body.upload.status).toBe('completed');
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });

  it('completing twice gives the same answer and one version', async () => {
    const file = bytesOf(PART + 10);
    const { id } = await open(file);
    await putAllParts(ctx.baseUrl, id, file);
    const first = await completeUpload(ctx.baseUrl, id);
    expect(first.status).toBe(200);
    const second = await completeUpload(ctx.baseUrl, id);
    expect(second.status).toBe(200);
    expect(second.body.asset.id).toBe(first.body.asset.id);
    expect(second.body.version).toEqual(first.body.version);
    expect(second.body.upload).toMatchObject({ id, status: 'completed' });

    const versions = await call(`${ctx.baseUrl}/api/v2/assets/${first.body.asset.id}/versions`);
    expect(versions.status).toBe(200);
    expect(versions.body.items).toHaveLength(1);
    expect(await keys(`assets/${first.body.asset.id}/`)).toHaveLength(1);
  });

  it('two completes at once give the same answer and one version', async () => {
    const file = bytesOf(PART + 10);
    const { id } = await open(file);
    await putAllParts(ctx.baseUrl, id, file);
    const [a, b] = await Promise.all([completeUpload(ctx.baseUrl, id), completeUpload(ctx.baseUrl, id)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.body.version).toEqual(a.body.version);
    const versions = await call(`${ctx.baseUrl}/api/v2/assets/${a.body.asset.id}/versions`);
    expect(versions.body.items).toHaveLength(1);
  });

  it('after an abort (204) a part, a presigned URL and complete answer 409, and no bytes are left', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file);
    expect((await putPart(ctx.baseUrl, id, 1, partOf(file, 1))).status).toBe(200);
    const assetId = await resultAssetId(id);

    const aborted = await abortUpload(ctx.baseUrl, id);
    expect(aborted.status).toBe(204);
    expect((await getUpload(ctx.baseUrl, id)).body).toMatchObject({ status: 'aborted', parts_received: [], bytes_received: 0 });

    expectProblem(await putPart(ctx.baseUrl, id, 2, partOf(file, 2)), 409);
    expectProblem(await partUrl(ctx.baseUrl, id, 2), 409);
    expectProblem(await completeUpload(ctx.baseUrl, id), 409);
    expect((await getUpload(ctx.baseUrl, id)).body.status).toBe('aborted');
    expect(await keys(`assets/${assetId}/`)).toEqual([]);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${assetId}/`)).toEqual([]);
    expect(await ctx.db('assets').where({ id: assetId }).first()).toBeUndefined();
  });

  it('a part that arrives while an abort is under way (multipart upload already gone) is 409, not 500', async () => {
    const file = bytesOf(PART + 10);
    const { id } = await open(file);
    const row = await ctx.db('upload_sessions').where({ id }).first();
    // The abort's first step, as the workflow takes it before the row says 'aborted'.
    await ctx.s3.send(new AbortMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: row.object_key, UploadId: row.s3_upload_id }));
    expectProblem(await putPart(ctx.baseUrl, id, 1, partOf(file, 1)), 409);
    expect((await abortUpload(ctx.baseUrl, id)).status).toBe(204);
  });

  it('aborting a completed session is 409 and leaves its asset whole; aborting twice is 204 twice', async () => {
    const file = bytesOf(PART + 10);
    const { id } = await open(file);
    await putAllParts(ctx.baseUrl, id, file);
    const done = await completeUpload(ctx.baseUrl, id);
    expect(done.status).toBe(200);
    expectProblem(await abortUpload(ctx.baseUrl, id), 409);
    expect((await getUpload(ctx.baseUrl, id)).body.status).toBe('completed');
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(file));

    const other = await open(file);
    expect((await abortUpload(ctx.baseUrl, other.id)).status).toBe(204);
    expect((await abortUpload(ctx.baseUrl, other.id)).status).toBe(204);
    expect((await getUpload(ctx.baseUrl, other.id)).body.status).toBe('aborted');
  });

  it('a whole-upload checksum mismatch at complete is 422: session failed, no asset, no bytes kept', async () => {
    const file = bytesOf(SIZE);
    const { id } = await open(file, { checksum_sha256: sha256(Buffer.from('not this file')) });
    await putAllParts(ctx.baseUrl, id, file);
    const assetId = await resultAssetId(id);

    const res = await completeUpload(ctx.baseUrl, id);
    expectProblem(res, 422);
    // Nothing is kept once the client has its answer.
    expect(await keys(`assets/${assetId}/`)).toEqual([]);
    const status = await getUpload(ctx.baseUrl, id);
    expect(status.body).toMatchObject({ id, status: 'failed', asset_id: null, version_id: null, error: expect.stringMatching(/checksum/) });

    expectProblem(await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?include_deleted=true`), 404);
    expect(await ctx.db('assets').where({ id: assetId }).first()).toBeUndefined();
    expect(await ctx.db('asset_versions').where({ upload_id: id }).first()).toBeUndefined();
    expect(await keys(`assets/${assetId}/`)).toEqual([]);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${assetId}/`)).toEqual([]);

    // A failed session takes no more parts, and completing it again tells the same failure.
    expectProblem(await putPart(ctx.baseUrl, id, 1, partOf(file, 1)), 409);
    expectProblem(await completeUpload(ctx.baseUrl, id), 422);
  });
});
