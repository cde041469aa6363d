/**
 * Issue 26, finding 6: an incomplete multipart upload is never left behind. An API killed while it
 * stages a simple upload over 5 MiB leaves one; the session's end removes it, and the cleanup the
 * lifecycle run calls removes any that no session owns.
 */
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { request } from 'node:http';
import { abortSignal } from '../workflows/uploads/definitions';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { abortIncompleteUploads } from '../lib/uploads/incompleteUploads';
import { bearer } from './support/auth';
import { bytesOf } from './support/assets';
import { PART, createUpload } from './support/chunked';
import { startTestService, type TestContext } from './support/context';
import { envFor, spawnService, waitUntil } from './support/processes';
import { freePorts } from '../scripts/stack';
import { runSweep } from './support/lifecycle';
import { uuidv7 } from '../lib/platform/ids';

const MiB = 1024 * 1024;

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

async function incompleteUploads(): Promise<{ Key?: string; UploadId?: string }[]> {
  return (await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.config.s3.bucket }))).Uploads ?? [];
}

/** Sends a form whose file has `bytes` bytes and never ends it: the API stages what it got. */
async function sendUnfinishedForm(baseUrl: string, bytes: number): Promise<() => void> {
  const boundary = 'unfinished-form-boundary';
  const req = request(`${baseUrl}/api/v2/assets/upload`, {
    method: 'POST',
    headers: { ...(await bearer()), 'content-type': `multipart/form-data; boundary=${boundary}` },
  });
  req.on('error', () => {});
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  req.write(bytesOf(bytes));
  return () => req.destroy();
}

it('an API killed while it stages a simple upload over 5 MiB: once the session ends, no incomplete multipart upload is left', async () => {
  const port = (await freePorts(1))[0];
  const api = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port) }));
  let cut = () => {};
  try {
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntil('the API to listen', async () => (await fetch(`${baseUrl}/health/live`).catch(() => undefined))?.ok);
    cut = await sendUnfinishedForm(baseUrl, 2 * PART + MiB);
    const staging = await waitUntil('the API to stage a multipart upload', async () => (await incompleteUploads())[0]);
    await api.kill();
    expect(await incompleteUploads()).toHaveLength(1);

    // The session the dead API opened ends (told to abort, as the lifecycle run or its expiry would).
    const session = await ctx.db('upload_sessions').first();
    expect(staging.Key).toBe(session.object_key);
    const run = ctx.temporal.client.workflow.getHandle(uploadWorkflowId(session.id));
    await run.signal(abortSignal);
    expect((await run.result()).status).toBe('aborted');

    expect(await incompleteUploads()).toEqual([]);
  } finally {
    cut();
    await api.kill();
  }
}, 90_000);

it('the cleanup aborts the incomplete multipart uploads older than the expiry that no open session owns, and only those', async () => {
  const bucket = ctx.config.s3.bucket;
  // Left by a writer that died (a backup manifest's, a session long gone): nothing owns it.
  const orphanKey = 'assets/00000000-0000-7000-8000-000000000000/orphan';
  const orphan = await ctx.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: orphanKey }));
  await ctx.s3.send(new UploadPartCommand({ Bucket: bucket, Key: orphanKey, UploadId: orphan.UploadId, PartNumber: 1, Body: bytesOf(1024) }));
  // An open chunked session's: its parts are still coming.
  const created = await createUpload(ctx.baseUrl, { name: 'open.bin', size_bytes: 2 * PART, part_size_bytes: PART });
  expect(created.status).toBe(201);
  const session = await ctx.db('upload_sessions').where({ id: created.body.id }).first();

  // Nothing is old enough yet.
  expect(await abortIncompleteUploads(ctx.db, ctx.s3, bucket, { olderThan: new Date(Date.now() - 3600_000) })).toMatchObject({ aborted: 0 });
  expect((await incompleteUploads()).map((u) => u.UploadId).sort()).toEqual([orphan.UploadId, session.s3_upload_id].sort());

  const swept = await abortIncompleteUploads(ctx.db, ctx.s3, bucket, { olderThan: new Date(Date.now() + 60_000) });
  expect(swept).toMatchObject({ aborted: 1, owned: 1 });
  expect((await incompleteUploads()).map((u) => u.UploadId)).toEqual([session.s3_upload_id]);
}, 60_000);

it('a lifecycle run sweeps the incomplete uploads once, after its phases', async () => {
  const run = await runSweep(ctx);
  expect(run.status).toBe('completed');
  const history = await ctx.temporal.client.workflow.getHandle(run.workflow_id!).fetchHistory();
  const activities = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(activities.filter((name) => name === 'abortIncompleteUploads')).toHaveLength(1);
}, 60_000);

describe('with a request timeout of 1 s', () => {
  let short: TestContext;
  beforeAll(async () => {
    short = await startTestService({ STORAGE_REQUEST_TIMEOUT_MS: '1000' });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('a lifecycle run aborts an upload no session owns once no API can still be staging to it, but not while a backup job runs', async () => {
    const bucket = short.config.s3.bucket;
    // An API that began staging a simple upload after its run had ended (its asset deleted meanwhile), then died.
    const key = 'assets/00000000-0000-7000-8000-000000000001/left-by-a-dead-api';
    const left = await short.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const open = async () => ((await short.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? []).map((u) => u.UploadId);

    // Not yet: an API's request may still be arriving (1 s), and its staging finishing (60 s).
    expect((await runSweep(short)).status).toBe('completed');
    expect(await open()).toEqual([left.UploadId]);

    const initiated = (await short.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads![0].Initiated!;
    await waitUntil('the upload to be older than the staging bound', async () => Date.now() - initiated.getTime() > 62_000, 70_000);
    // A backup running copies with no session row: the bound is then the upload expiry.
    const backupId = uuidv7();
    await short.db('backup_jobs').insert({ id: backupId, kind: 'backup', status: 'running', workflow_id: `backup-${backupId}` });
    expect((await runSweep(short)).status).toBe('completed');
    expect(await open()).toEqual([left.UploadId]);
    await short.db('backup_jobs').where({ id: backupId }).update({ status: 'failed' });
    expect((await runSweep(short)).status).toBe('completed');
    expect(await open()).toEqual([]);
  }, 150_000);
});
