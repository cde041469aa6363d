/**
 * Issue 26, finding 8: an upload run takes a bounded number of updates. Past its bound it refuses
 * them with a clear failure, without writing them to its history, and still takes the `complete`
 * that finishes it: it can always complete.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { newUploadInput } from '../lib/uploads/input';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { TEST_ADMIN } from './support/auth';
import { actorRef } from '../lib/auth/actor';
import { UploadFailure, completeUpdate, openedUpdate, type UploadWorkflow } from '../workflows/uploads/definitions';
import { bytesOf, sha256 } from './support/assets';
import { PART, putPart } from './support/chunked';
import { startTestService, type TestContext } from './support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

it('past its bound of updates a run refuses more (UploadFailure.tooManyUpdates), unrecorded, and still takes the complete that finishes it', async () => {
  const file = bytesOf(PART + 100);
  const input = {
    ...newUploadInput(
      ctx.config,
      {
        kind: 'chunked',
        name: 'bounded.bin',
        contentType: 'application/octet-stream',
        sizeBytes: file.length,
        checksumSha256: sha256(file),
        partSizeBytes: PART,
        partCount: 2,
      },
      undefined,
      TEST_ADMIN.sub,
    ),
    actor: actorRef(TEST_ADMIN),
    maxUpdates: 3,
  };
  const run = await ctx.temporal.client.workflow.start<UploadWorkflow>('uploadWorkflow', {
    workflowId: uploadWorkflowId(input.uploadId),
    taskQueue: ctx.config.temporal.taskQueue,
    args: [input],
  });
  for (let i = 0; i < 3; i++) await run.executeUpdate(openedUpdate);
  const refused = await run.executeUpdate(openedUpdate).catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
  expect(((refused as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(UploadFailure.tooManyUpdates);
  // A complete the run may take has room past the bound: refused here only for its missing parts.
  const early = await run.executeUpdate(completeUpdate, { args: [{}] }).catch((err: unknown) => err);
  expect(((early as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe(UploadFailure.missingParts);

  for (const n of [1, 2]) expect((await putPart(ctx.baseUrl, input.uploadId, n, file.subarray((n - 1) * PART, n * PART))).status).toBe(200);
  const result = await run.executeUpdate(completeUpdate, { args: [{}] });
  expect(result).toEqual({ assetId: input.assetId, versionId: input.versionId });
  expect((await run.result()).status).toBe('completed');

  const history = await run.fetchHistory();
  const accepted = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
  expect(accepted).toHaveLength(5);
}, 60_000);
