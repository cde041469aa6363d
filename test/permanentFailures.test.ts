/**
 * What no retry can fix ends the run that met it. Each workflow kind is fed data the API can no
 * longer send (it validates), started directly on this file's task queue, or a row of this file's own
 * database that PostgreSQL refuses; each run ends, its row says failed, and nothing it staged stays.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { readBackup, readRestore } from '../lib/backups/backupRuns';
import { insertBackup, insertRestore, manifestKeyFor } from '../lib/backups/catalog';
import { backupWorkflowId, restoreWorkflowId } from '../workflows/backups/definitions';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { deleteAssetWorkflowId } from '../workflows/assets/definitions';
import { uuidv7 } from '../lib/platform/ids';
import { objectKeyFor } from '../lib/assets/keys';
import { insertRun } from '../lib/lifecycle/sweep';
import { lifecycleWorkflowId } from '../workflows/lifecycle/definitions';
import { headObject } from '../lib/platform/storedObjects';
import { completeUploadSession, openUploadSession, type UploadClient } from '../lib/uploads/uploadRuns';
import type { ChunkedUpload, UploadContent, UploadInput, UploadTarget } from '../workflows/uploads/definitions';
import { bytesOf, sha256, uploadAsset } from './support/assets';
import { backupClientOf, runBackup } from './support/backups';
import { addAsset, keysOf } from './support/catalog';
import { createUpload, getUpload, openMultipartKeys } from './support/chunked';
import { useTestService } from './support/context';
import { TEST_ADMIN } from './support/auth';
import { call } from './support/http';
import { waitUntil } from './support/processes';

const NUL = '\u0000';

const ctx = useTestService();
let uploads: UploadClient;
beforeAll(async () => {
  uploads = { client: ctx.temporal.client, taskQueue: ctx.config.temporal.taskQueue, db: ctx.db };
});

function start(workflowType: string, workflowId: string, args: unknown[]): Promise<WorkflowHandle> {
  return ctx.temporal.client.workflow.start(workflowType, { taskQueue: ctx.config.temporal.taskQueue, workflowId, args });
}

async function runStatus(handle: WorkflowHandle): Promise<string> {
  return (await handle.describe()).status.name;
}

const ghoulFile: UploadContent = { kind: 'simple', name: 'ghoul.bin', contentType: 'application/octet-stream' };

/** A chunked session of one small part, with the fields given. */
function ghoulParts(fields: Pick<ChunkedUpload, 'metadata' | 'tags'>): ChunkedUpload {
  return {
    kind: 'chunked',
    name: 'ghoul.bin',
    contentType: 'application/octet-stream',
    sizeBytes: 10,
    partSizeBytes: 5 * 1024 * 1024,
    partCount: 1,
    ...fields,
  };
}

function uploadInput(content: UploadContent = ghoulFile, target: Partial<UploadTarget> = {}): UploadInput {
  const assetId = uuidv7();
  const versionId = target.versionId ?? uuidv7();
  return {
    uploadId: uuidv7(),
    assetId,
    newAsset: true,
    versionId,
    objectKey: objectKeyFor(assetId, versionId),
    expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    ...target,
    ...content,
  };
}

/** A simple upload's session, opened, with its file staged in the bucket as the API stages it. */
async function stagedSimpleUpload(target: Partial<UploadTarget> = {}) {
  const input = uploadInput(ghoulFile, target);
  await openUploadSession(uploads, TEST_ADMIN, input);
  const file = bytesOf(4096);
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: input.objectKey, Body: file }));
  return { input, file, handle: ctx.temporal.client.workflow.getHandle(uploadWorkflowId(input.uploadId)) };
}

describe('uploads', () => {
  it('form metadata PostgreSQL refuses: the complete answers 422 at once, the session is failed and its staged file gone', async () => {
    const { input, file, handle } = await stagedSimpleUpload();
    const completing = completeUploadSession(
      uploads,
      input.uploadId,
      {
        sizeBytes: file.length,
        checksumSha256: sha256(file),
        details: { name: 'ghoul.bin', contentType: 'application/octet-stream', metadata: { a: `b${NUL}c` } },
      },
      ctx.config.uploads.waitSeconds * 1000,
    );
    await expect(completing).rejects.toMatchObject({ name: 'UnprocessableError', facts: { upload_id: input.uploadId } });

    expect(await handle.result()).toMatchObject({ status: 'failed' });
    expect(await runStatus(handle)).toBe('COMPLETED');
    const session = await getUpload(ctx.baseUrl, input.uploadId);
    expect(session.status).toBe(200);
    // The error names what was refused, and no SQL.
    expect(session.body).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(/^the catalog refused a character it cannot store \(such as NUL\) \(SQLSTATE 22/),
    });
    expect(session.body.error).not.toMatch(/insert|update|select/i);
    expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key: input.objectKey })).toBeUndefined();
    expect(await ctx.db('assets').where({ id: input.assetId }).first()).toBeUndefined();
  });

  it('a commit PostgreSQL refuses (its version id is taken): 409 at once, the session is failed and its staged file gone', async () => {
    const existing = await addAsset(ctx.baseUrl, bytesOf(1024), { name: 'taken.bin' });
    const { input, file, handle } = await stagedSimpleUpload({ versionId: existing.body.current_version_id });
    const completing = completeUploadSession(
      uploads,
      input.uploadId,
      { sizeBytes: file.length, checksumSha256: sha256(file) },
      ctx.config.uploads.waitSeconds * 1000,
    );
    await expect(completing).rejects.toMatchObject({ name: 'ConflictError', facts: { upload_id: input.uploadId } });

    expect(await handle.result()).toMatchObject({ status: 'failed' });
    expect((await getUpload(ctx.baseUrl, input.uploadId)).body).toMatchObject({ status: 'failed', error: expect.any(String) });
    expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key: input.objectKey })).toBeUndefined();
    // The asset the commit began to make went with its transaction; the other one is untouched.
    expect(await ctx.db('assets').where({ id: input.assetId }).first()).toBeUndefined();
    expect((await call(`${ctx.baseUrl}/api/v2/assets/${existing.body.id}`)).body).toMatchObject({ current_version_id: existing.body.current_version_id });
  });

  it('a chunked session whose tags PostgreSQL refuses: opening it answers 422, and no row or multipart upload is left', async () => {
    const input = uploadInput(ghoulParts({ tags: [`${NUL}a`] }));
    await expect(openUploadSession(uploads, TEST_ADMIN, input)).rejects.toMatchObject({ name: 'UnprocessableError' });

    const handle = ctx.temporal.client.workflow.getHandle(uploadWorkflowId(input.uploadId));
    expect(await handle.result()).toMatchObject({ status: 'failed' });
    expect(await ctx.db('upload_sessions').where({ id: input.uploadId }).first()).toBeUndefined();
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${input.assetId}/`)).toEqual([]);
  });

  it('50 uploads failing at once leave the worker free: a new session and a simple upload answer, and every failing run ends', async () => {
    const failing = await Promise.all(
      Array.from({ length: 50 }, () => {
        const input = uploadInput(ghoulParts({ metadata: { a: `b${NUL}c` } }));
        return start('uploadWorkflow', uploadWorkflowId(input.uploadId), [input]);
      }),
    );

    const session = await createUpload(ctx.baseUrl, { name: 'wight.bin', size_bytes: 10 });
    expect(session.status).toBe(201);
    const simple = await uploadAsset(ctx.baseUrl, bytesOf(2048), { name: 'wraith.bin' });
    expect(simple.status).toBe(201);

    await waitUntil(
      'every failing upload run to end',
      async () => (await Promise.all(failing.map(runStatus))).every((status) => status !== 'RUNNING'),
      120_000,
      500,
    );
    for (const handle of failing) expect(await handle.result()).toMatchObject({ status: 'failed' });
  }, 180_000);
});

it('a lifecycle run whose plan PostgreSQL refuses (a date before its range) ends failed, and its row says why', async () => {
  const runId = await insertRun(ctx.db, { trigger: 'api', dryRun: false });
  const plan = { policies: [{ id: uuidv7(), name: 'ancient', filter: {}, rules: [{ action: 'abort_incomplete_uploads', days: 3_000_000 }] }], global: null };
  await ctx
    .db('lifecycle_runs')
    .where({ id: runId })
    .update({ plan: JSON.stringify(plan), as_of: new Date(), status: 'running' });

  const handle = await start('lifecycleSweepWorkflow', lifecycleWorkflowId(runId), [{ runId }]);
  await expect(handle.result()).rejects.toThrow();
  expect(await runStatus(handle)).toBe('FAILED');
  const run = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${runId}`);
  expect(run.body).toMatchObject({ status: 'failed', error: expect.any(String) });
});

it('a backup whose scope PostgreSQL refuses ends failed, its row says why, and no manifest is left', async () => {
  const backupId = await insertBackup(ctx.db, { scope: { asset_ids: ['not-a-uuid'], include_all_versions: false }, trigger: 'api', retentionDays: 1 });

  const handle = await start('backupWorkflow', backupWorkflowId(backupId), [{ backupId }]);
  await expect(handle.result()).rejects.toThrow();
  expect(await runStatus(handle)).toBe('FAILED');
  // (Read from the catalog: the row holds what the API's own document calls invalid.)
  expect(await readBackup(backupClientOf(ctx), backupId)).toMatchObject({ status: 'failed', error: expect.any(String) });
  expect(await keysOf(ctx, ctx.config.s3.backupBucket, manifestKeyFor(backupId))).toEqual([]);
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.backupBucket, '')).toEqual([]);
});

it('a restore whose scope PostgreSQL refuses ends failed, and its row says why', async () => {
  const backup = await runBackup(ctx);
  expect(backup.status).toBe('completed');
  const restoreId = await insertRestore(ctx.db, { backupId: backup.id, mode: 'missing', assetIds: ['not-a-uuid'] });

  const handle = await start('restoreWorkflow', restoreWorkflowId(restoreId), [{ restoreId }]);
  await expect(handle.result()).rejects.toThrow();
  expect(await runStatus(handle)).toBe('FAILED');
  expect(await readRestore(backupClientOf(ctx), restoreId)).toMatchObject({ status: 'failed', error: expect.any(String) });
});

it('a retention sweep as of a date PostgreSQL refuses ends failed', async () => {
  const handle = await start('backupRetentionWorkflow', `backup-retention-${uuidv7()}`, [{ asOf: new Date(-8.64e15).toISOString() }]);
  await expect(handle.result()).rejects.toThrow();
  expect(await runStatus(handle)).toBe('FAILED');
});

it('an asset deletion for an id PostgreSQL refuses ends failed', async () => {
  const handle = await start('deleteAssetWorkflow', deleteAssetWorkflowId('not-a-uuid'), [{ assetId: 'not-a-uuid' }]);
  await expect(handle.result()).rejects.toThrow();
  expect(await runStatus(handle)).toBe('FAILED');
});
