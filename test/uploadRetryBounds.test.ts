/**
 * Issue 26, "every retry loop has a bound": each activity an upload run schedules is bounded in
 * attempts and in time, and a session or an asset gone under a step fails it for good (AssetGone),
 * rather than retrying it without end.
 */
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createUploadActivities } from '../activities/uploads/uploads';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { uuidv7 } from '../lib/platform/ids';
import { UploadFailure } from '../workflows/uploads/definitions';
import { bytesOf, sha256 } from './support/assets';
import { PART, completeUpload, createUpload, partOf, putPart } from './support/chunked';
import { startTestService, type TestContext } from './support/context';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await ctx?.stop();
});

it('every activity an upload run schedules has a bound in attempts and in time', async () => {
  const file = bytesOf(2 * PART + 1000);
  const created = await createUpload(ctx.baseUrl, { name: 'bounded.bin', size_bytes: file.length, checksum_sha256: sha256(file), part_size_bytes: PART });
  expect(created.status).toBe(201);
  // Out of order: the finish assembles the parts and reads the object back, as ordinary activities.
  for (const n of [3, 1, 2]) expect((await putPart(ctx.baseUrl, created.body.id, n, partOf(file, n))).status).toBe(200);
  expect((await completeUpload(ctx.baseUrl, created.body.id)).status).toBe(200);

  const history = await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(created.body.id)).fetchHistory();
  const scheduled = (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes ?? []);
  expect(scheduled.map((a) => a.activityType?.name)).toEqual(expect.arrayContaining(['assembleParts', 'verifyObject']));
  const unbounded = scheduled.filter((a) => !(a.retryPolicy?.maximumAttempts ?? 0) || !Number(a.scheduleToCloseTimeout?.seconds ?? 0));
  expect(unbounded.map((a) => a.activityType?.name)).toEqual([]);
}, 60_000);

it('a session gone under a step (its asset deleted) fails the step for good: parts checked, object read back, a simple upload finished in one step', async () => {
  const activities = createUploadActivities({ config: ctx.config, db: ctx.db, s3: ctx.s3, logger: ctx.logger });
  const env = new MockActivityEnvironment();
  const gone = uuidv7();
  const failures = await Promise.all([
    env.run(activities.checkParts, gone).catch((err: unknown) => err),
    env.run(activities.verifyObject, { uploadId: gone, objectKey: `assets/${gone}/${gone}` }).catch((err: unknown) => err),
    // Found by the consistency checker: its staged object and session gone, it was retried 12 times and more.
    env
      .run(activities.finishStagedUpload, {
        uploadId: gone,
        objectKey: `assets/${gone}/${gone}`,
        sizeBytes: 1,
        checksumSha256: sha256(Buffer.from('x')),
        s3ChecksumSha256: 'AAAA',
      })
      .catch((err: unknown) => err),
  ]);
  for (const failure of failures) {
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: UploadFailure.assetGone, nonRetryable: true });
  }
}, 30_000);

it('a discard whose session row is gone (an open that lost a race with a deletion for good) still aborts what was begun at its key', async () => {
  const activities = createUploadActivities({ config: ctx.config, db: ctx.db, s3: ctx.s3, logger: ctx.logger });
  const gone = uuidv7();
  const objectKey = `assets/${gone}/${gone}`;
  await ctx.s3.send(new CreateMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: objectKey }));
  const openAt = async () => ((await ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: ctx.config.s3.bucket, Prefix: objectKey }))).Uploads ?? []).length;
  expect(await openAt()).toBe(1);
  await new MockActivityEnvironment().run(activities.discardUpload, { uploadId: gone, status: 'failed' as const, error: 'asset gone', objectKey });
  expect(await openAt()).toBe(0);
}, 30_000);
