/**
 * Issue 26: nothing waits for a session's 24-hour expiry after its client (or the API streaming its
 * body) went silent. With STORAGE_UPLOAD_STALL_SECONDS=5, a session that shows no progress for 5 s is
 * ended by its run: its bytes and its reservation go. A run whose session was committed elsewhere (a
 * finish whose worker died before the run recorded it) ends completed at once with the row's version.
 */
import { CompleteMultipartUploadCommand, ListObjectsV2Command, ListPartsCommand } from '@aws-sdk/client-s3';
import { useTestService } from './support/context';
import { bytesOf, sha256, uploadAsset } from './support/assets';
import { call, inPieces } from './support/http';
import { bearer } from './support/auth';
import { completeUpload, createUpload, getUpload, openMultipartKeys, partUrl, putPart } from './support/chunked';
import { waitUntil } from './support/processes';
import { commitUploadedVersion, uploadWorkflowId } from '../lib/uploads/sessions';
import { auditWriterOf } from '../lib/audit/log';

const MiB = 1024 * 1024;
const STALL_SECONDS = 5;
// Chunked and tus sessions have a bound of their own (test/resumableSessions.test.ts): the same here.
const ctx = useTestService({ STORAGE_UPLOAD_STALL_SECONDS: String(STALL_SECONDS), STORAGE_RESUMABLE_STALL_SECONDS: String(STALL_SECONDS) });
const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

const BOUNDARY = 'stalledBoundary7MA4YWxk';

/** A form's head (its owner, then the file part's header) and its tail, around `fileBytes`. */
function formAround(ownerId: string) {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="owner_id"\r\n\r\n${ownerId}\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="stalled.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  return { head, tail };
}

async function bucketKeys(prefix: string): Promise<string[]> {
  const page = await ctx.s3.send(new ListObjectsV2Command({ Bucket: ctx.config.s3.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function reservedBytes(owner: string): Promise<number> {
  const res = await call(url(`/usage?owner_id=${owner}`));
  expect(res.status).toBe(200);
  return res.body.reserved_bytes;
}

describe('a simple upload whose client stops sending mid-body', () => {
  test('is ended within the stall bound: no session, no staged bytes, its reservation back', async () => {
    const owner = `stall-owner-${Date.now()}`;
    expect((await call(url(`/quotas/${owner}`), { method: 'PUT', json: { bytes: 24 * MiB, assets: 10 } })).status).toBe(200);
    const file = bytesOf(16 * MiB);
    const { head, tail } = formAround(owner);
    const body = inPieces(url('/assets/upload'), 'POST', {
      ...(await bearer()),
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': String(head.length + file.length + tail.length),
    });
    // Half the file, then silence on an open socket: what an API or client that hangs leaves.
    await body.write(head);
    await body.write(file.subarray(0, 12 * MiB));
    const session = await waitUntil('the session holding a reservation', async () =>
      ctx
        .db('upload_sessions')
        .where({ quota_owner_id: owner, status: 'open' })
        .where('reserved_bytes', '>', 5 * MiB)
        .first(),
    );
    try {
      await waitUntil('the stalled session ended', async () => !(await ctx.db('upload_sessions').where({ id: session.id }).first()), 90_000, 500);
      expect(await reservedBytes(owner)).toBe(0);
      const prefix = session.object_key.split('/').slice(0, 2).join('/');
      expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, prefix)).toEqual([]);
      expect(await bucketKeys(session.object_key)).toEqual([]);
      const run = await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(session.id)).result();
      expect(run).toMatchObject({ status: 'expired', error: `stalled: no progress for ${STALL_SECONDS} s` });
      // The quota it held is free: an upload that needs it is taken.
      const later = await uploadAsset(ctx.baseUrl, bytesOf(16 * MiB), { name: 'later.bin', owner_id: owner });
      expect(later.status).toBe(201);
    } finally {
      body.leave();
    }
  }, 180_000);
});

describe('a chunked session', () => {
  test('with one part sent, then silence, is ended as stalled', async () => {
    const created = await createUpload(ctx.baseUrl, { name: 'silent.bin', size_bytes: 10 * MiB, part_size_bytes: 5 * MiB });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect((await putPart(ctx.baseUrl, id, 1, bytesOf(5 * MiB))).status).toBe(200);
    const ended = await waitUntil(
      'the silent session ended',
      async () => {
        const res = await getUpload(ctx.baseUrl, id);
        return res.body.status !== 'open' && res;
      },
      90_000,
      500,
    );
    expect(ended.body).toMatchObject({ status: 'expired', error: `stalled: no progress for ${STALL_SECONDS} s` });
    const row = await ctx.db('upload_sessions').where({ id }).first();
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, row.object_key)).toEqual([]);
  }, 180_000);

  test('committed while its run waits (the finish recorded by no run) ends its run at once, completed with that version', async () => {
    const file = bytesOf(1024);
    const created = await createUpload(ctx.baseUrl, { name: 'committed.bin', size_bytes: file.length, part_size_bytes: 5 * MiB });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    expect((await putPart(ctx.baseUrl, id, 1, file)).status).toBe(200);
    // What a worker that finished the upload, then died before its run recorded it, leaves: the object
    // assembled and the version committed by the real commit, while the run still waits for `complete`.
    const row = await ctx.db('upload_sessions').where({ id }).first();
    const parts = await ctx.s3.send(new ListPartsCommand({ Bucket: ctx.config.s3.bucket, Key: row.object_key, UploadId: row.s3_upload_id }));
    await ctx.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.config.s3.bucket,
        Key: row.object_key,
        UploadId: row.s3_upload_id,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: parts.Parts![0].ETag }] },
      }),
    );
    const committed = await commitUploadedVersion(
      ctx.db,
      id,
      { sizeBytes: file.length, checksumSha256: sha256(file) },
      ctx.config.versions.max,
      auditWriterOf(false),
    );
    const handle = ctx.temporal.client.workflow.getHandle(uploadWorkflowId(id));
    await waitUntil('the run ended', async () => (await handle.describe()).status.name !== 'RUNNING', 90_000, 500);
    expect(await handle.result()).toEqual({ status: 'completed', error: null, result: { assetId: committed.assetId, versionId: committed.versionId } });
    const downloaded = await fetch(url(`/assets/${committed.assetId}/content`), { headers: await bearer() });
    expect(Buffer.from(await downloaded.arrayBuffer())).toEqual(file);
  }, 180_000);

  test('whose part is PUT by its presigned URL more slowly than the stall bound is not ended under the PUT: it completes', async () => {
    const file = bytesOf(MiB);
    const created = await createUpload(ctx.baseUrl, { name: 'slow-presigned.bin', size_bytes: file.length, part_size_bytes: 5 * MiB });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const presigned = await partUrl(ctx.baseUrl, id, 1);
    expect(presigned.status).toBe(200);
    // The part goes straight to the store over three stall bounds, as a large part on a slow link does: no byte passes the API.
    const put = inPieces(presigned.body.url, 'PUT', { 'content-length': String(file.length) });
    const pieces = 3 * STALL_SECONDS;
    const piece = Math.ceil(file.length / pieces);
    for (let i = 0; i < pieces - 1; i++) {
      await put.write(file.subarray(i * piece, (i + 1) * piece));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    expect((await put.end(file.subarray((pieces - 1) * piece))).status).toBe(200);
    const completed = await completeUpload(ctx.baseUrl, id);
    expect(completed.status).toBe(200);
    const downloaded = await fetch(url(`/assets/${completed.body.asset.id}/content`), { headers: await bearer() });
    // Compared by hash: a deep comparison of a MiB blocks the loop past the test server's keep-alive.
    expect(sha256(Buffer.from(await downloaded.arrayBuffer()))).toBe(sha256(file));
  }, 180_000);
});

describe('a tus upload', () => {
  test('says it expires when its run would end it as stalled, not at its 24-hour expiry', async () => {
    const tusHeaders = { ...(await bearer()), 'tus-resumable': '1.0.0' };
    const created = await fetch(url('/tus'), {
      method: 'POST',
      headers: { ...tusHeaders, 'upload-length': String(6 * MiB), 'upload-metadata': `filename ${Buffer.from('paused.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location')!, ctx.baseUrl).toString();
    const id = location.split('/').pop()!;
    // The session's 24-hour expiry, as the header would give it (to the second). Its JSON's expires_at
    // says the sliding deadline, as Upload-Expires does.
    const row = await ctx.db('upload_sessions').where({ id }).first();
    const expiry = Date.parse(new Date(row.expires_at).toUTCString());
    const session = await getUpload(ctx.baseUrl, id);
    expect(Date.parse(created.headers.get('upload-expires')!)).toBe(Date.parse(new Date(session.body.expires_at).toUTCString()));
    // tus clients keep an upload to resume it until Upload-Expires: one paused past the stall bound is gone before its expiry.
    expect(Date.parse(created.headers.get('upload-expires')!)).toBeLessThan(expiry);
    const patched = await fetch(location, {
      method: 'PATCH',
      headers: { ...tusHeaders, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' },
      body: bytesOf(5 * MiB),
    });
    expect(patched.status).toBe(204);
    expect(Date.parse(patched.headers.get('upload-expires')!)).toBeLessThan(expiry);
    const head = await fetch(location, { method: 'HEAD', headers: tusHeaders });
    expect(head.status).toBe(200);
    expect(Date.parse(head.headers.get('upload-expires')!)).toBeLessThan(expiry);
  });
});
