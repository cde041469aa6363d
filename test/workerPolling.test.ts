/**
 * "No worker" is said only when no worker polls the upload's queue (issue 26, finding 2). With nobody
 * polling, a simple upload whose run is not taken is answered 503 with Retry-After and its
 * `upload_id`, and nothing of it stays once a worker is back. With a worker that polls but is busy
 * (here one that polled, then went on with other work), the upload is not refused after the first
 * wait: it waits on, and is answered 201 once a worker takes it.
 */
import { temporal } from '@temporalio/proto';
import { bytesOf, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { useTestService } from './support/context';
import { expectProblem } from './support/http';
import { waitUntil } from './support/processes';

const ctx = useTestService({}, { worker: false });

// The API waits this long for a worker before it asks whether any polls (lib/uploads/uploadRuns.ts).
const FIRST_WAIT_MS = 10_000;

const count = async (table: string, where: Record<string, string> = {}) => Number((await ctx.db(table).where(where).count({ n: '*' }))[0].n);

/**
 * Polls the queue for a workflow task once, as a worker does, and leaves: the queue has a poller,
 * which then takes nothing, like a worker busy with other tasks. A task it gets is left to time out.
 */
async function pollOnceThenBusy(): Promise<void> {
  const { client } = ctx.temporal;
  const poll = () =>
    client.workflowService.pollWorkflowTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: ctx.config.temporal.taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      identity: 'a busy worker',
    });
  // The server refuses a long poll shorter than two seconds.
  await client.connection.withDeadline(Date.now() + 3000, poll).catch(() => {});
}

it('answers 503 "no worker" when no worker polls the queue', async () => {
  const res = await uploadAsset(ctx.baseUrl, bytesOf(64 * 1024), { name: 'nobody polls.bin' });
  expectProblem(res, 503);
  expect(res.headers.get('retry-after')).toBe('5');
  expect(res.body.detail).toMatch(/no worker/);
  expect(res.body.upload_id).toEqual(expect.any(String));
});

it('waits while a worker polls, busy, and answers 201 once one takes the upload', async () => {
  await pollOnceThenBusy();
  const started = Date.now();
  const answer = uploadAsset(ctx.baseUrl, bytesOf(64 * 1024), { name: 'a busy worker.bin' });
  // Past the first wait, when the API asks for pollers: the busy one is there, so it waits on.
  await new Promise((resolve) => setTimeout(resolve, FIRST_WAIT_MS + 3000));
  await ctx.startWorker();
  const res = await answer;
  expect(res.status).toBe(201);
  expect(Date.now() - started).toBeGreaterThan(FIRST_WAIT_MS);

  // The refused upload of the first test left nothing once a worker was back: one asset, its object, its session.
  await waitUntil('the refused upload to leave nothing', async () => (await objectKeys(ctx, 'assets/')).length === 1 && (await count('upload_sessions')) === 1);
  expect(await count('assets')).toBe(1);
}, 90_000);
