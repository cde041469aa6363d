/**
 * Issue 26, resumability: a chunked or tus client that pauses (a dropped connection, a laptop lid)
 * finds its session still open well past the simple uploads' stall bound, and what it is told of its
 * deadline is true: the earlier of its expiry and its last progress plus STORAGE_RESUMABLE_STALL_SECONDS.
 * Here the simple bound is 3 s and the resumable one 60 s: each pause lasts until the run has woken
 * twice and read its session, past the 3 s, well within the 60.
 */
import { ListPartsCommand } from '@aws-sdk/client-s3';
import { useTestService } from './support/context';
import { bytesOf } from './support/assets';
import { call } from './support/http';
import { bearer } from './support/auth';
import { completeUpload, createUpload, getUpload, putPart } from './support/chunked';
import { waitUntil } from './support/processes';
import { uploadWorkflowId } from '../lib/uploads/sessions';

const MiB = 1024 * 1024;
const RESUMABLE_STALL_SECONDS = 60;
const ctx = useTestService({ STORAGE_UPLOAD_STALL_SECONDS: '3', STORAGE_RESUMABLE_STALL_SECONDS: String(RESUMABLE_STALL_SECONDS) });

/** Waits until the session's run has read its session `times` times since it opened (or has ended). */
async function runLooked(uploadId: string, times: number): Promise<void> {
  const handle = ctx.temporal.client.workflow.getHandle(uploadWorkflowId(uploadId));
  await waitUntil(
    `the run to read its session ${times} times`,
    async () => {
      if ((await handle.describe()).status.name !== 'RUNNING') return true;
      const { events } = await handle.fetchHistory();
      // Local activities are markers: the open, then one per look.
      const steps = (events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
      return steps >= 1 + times;
    },
    60_000,
    500,
  );
}

/**
 * The deadline the session implies: its last progress (its row's, or for a chunked one the last part
 * S3 received, as parts PUT by presigned URL pass no API) plus the resumable bound, or its expiry if earlier.
 */
async function slidingDeadline(uploadId: string): Promise<number> {
  const row = await ctx.db('upload_sessions').where({ id: uploadId }).first();
  const listed =
    row.kind === 'chunked' && (await ctx.s3.send(new ListPartsCommand({ Bucket: ctx.config.s3.bucket, Key: row.object_key, UploadId: row.s3_upload_id })));
  const partTimes = ((listed && listed.Parts) || []).map((p) => p.LastModified!.getTime());
  const lastProgress = Math.max(row.last_progress_at.getTime(), ...partTimes);
  return Math.min(row.expires_at.getTime(), lastProgress + RESUMABLE_STALL_SECONDS * 1000);
}

test('a chunked session paused between parts stays open, says when it would end, and completes', async () => {
  const file = bytesOf(6 * MiB);
  const created = await createUpload(ctx.baseUrl, { name: 'paused.bin', size_bytes: file.length, part_size_bytes: 5 * MiB });
  expect(created.status).toBe(201);
  const id: string = created.body.id;
  expect((await putPart(ctx.baseUrl, id, 1, file.subarray(0, 5 * MiB))).status).toBe(200);
  await runLooked(id, 2);
  const paused = await getUpload(ctx.baseUrl, id);
  expect(paused.body).toMatchObject({ status: 'open', parts_received: [1] });
  expect(Date.parse(paused.body.expires_at)).toBe(await slidingDeadline(id));
  expect((await putPart(ctx.baseUrl, id, 2, file.subarray(5 * MiB))).status).toBe(200);
  await runLooked(id, 4);
  const done = await completeUpload(ctx.baseUrl, id);
  expect(done.status).toBe(200);
  expect(done.body.upload.status).toBe('completed');
}, 180_000);

test('a tus upload paused between PATCHes stays open, its Upload-Expires the sliding deadline, and finishes', async () => {
  const file = bytesOf(5 * MiB + 1024);
  const tus = (more: Record<string, string> = {}) => ({ 'tus-resumable': '1.0.0', ...more });
  const created = await call(`${ctx.baseUrl}/api/v2/tus`, {
    method: 'POST',
    headers: tus({ 'upload-length': String(file.length), 'upload-metadata': `filename ${Buffer.from('paused.bin').toString('base64')}` }),
  });
  expect(created.status).toBe(201);
  const location = `${ctx.baseUrl}${created.headers.get('location')}`;
  const id = location.split('/').pop()!;
  const patch = (offset: number, bytes: Buffer) =>
    call(location, {
      method: 'PATCH',
      headers: tus({ 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' }),
      body: new Uint8Array(bytes),
    });
  expect((await patch(0, file.subarray(0, 5 * MiB))).status).toBe(204);
  await runLooked(id, 2);
  const head = await fetch(location, { method: 'HEAD', headers: { ...tus(), ...(await bearer()) } });
  expect(head.status).toBe(200);
  expect(head.headers.get('upload-offset')).toBe(String(5 * MiB));
  // An RFC 9110 date is in whole seconds.
  expect(Date.parse(head.headers.get('upload-expires')!)).toBe(Math.floor((await slidingDeadline(id)) / 1000) * 1000);
  expect((await patch(5 * MiB, file.subarray(5 * MiB))).status).toBe(204);
  const finished = await waitUntil('the upload committed', async () => {
    const res = await getUpload(ctx.baseUrl, id);
    return res.body.status === 'completed' && res;
  });
  expect(finished.body.size_bytes).toBe(file.length);
}, 180_000);
