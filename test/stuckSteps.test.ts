/**
 * Issue 26, F4: no upload run is left running for long after its worker died. A catalog step whose
 * local time ran out (here the store holds its AbortMultipartUpload) runs on as an ordinary activity;
 * a worker killed while it runs one is noticed within that activity's attempt bound, and another
 * worker ends the session, instead of the run waiting out an hour's attempt.
 */
import { temporal } from '@temporalio/proto';
import { createUpload } from './support/chunked';
import { useTestService, type RunningWorker } from './support/context';
import { call } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';
import { uploadWorkflowId } from '../lib/uploads/sessions';

const { PendingActivityState } = temporal.api.enums.v1;
const ctx = useTestService({}, { worker: false });
let proxy: S3Proxy;

beforeAll(async () => {
  proxy = await startS3Proxy(ctx.config.s3.endpoint);
});
afterAll(async () => {
  await proxy?.close();
});

const isAbortMultipart = (req: { method: string; path: string }) => req.method === 'DELETE' && /[?&]uploadId=/.test(req.path);

test('a worker killed in a step run on as an activity: another worker ends the session within the attempt bound', async () => {
  let worker: ServiceProcess | undefined = spawnService('worker/main.ts', envFor(ctx.config, { STORAGE_S3_ENDPOINT_URL: proxy.url }));
  let next: RunningWorker | undefined;
  try {
    // Until the spawned worker polls, an open is answered 503 (and its run told to abort).
    const created = await waitUntil(
      'the worker to open a session',
      async () => {
        const answer = await createUpload(ctx.baseUrl, { name: 'stuck.bin', size_bytes: 6 * 1024 * 1024, part_size_bytes: 5 * 1024 * 1024 });
        return answer.status === 201 && answer;
      },
      120_000,
      1000,
    );
    const id: string = created.body.id;
    const handle = ctx.temporal.client.workflow.getHandle(uploadWorkflowId(id));
    // The store never answers the abort: the local step runs out of time and runs on as an activity.
    proxy.hold(isAbortMultipart);
    void call(`${ctx.baseUrl}/api/v2/uploads/${id}`, { method: 'DELETE' }).catch(() => undefined);
    await waitUntil(
      'the discard to run as an activity, on the worker',
      async () =>
        (await handle.describe()).raw.pendingActivities?.some(
          (a) => a.activityType?.name === 'discardUpload' && a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        ),
      120_000,
      500,
    );
    await worker.kill();
    worker = undefined;
    next = await ctx.startWorker();
    await waitUntil('the run ended', async () => (await handle.describe()).status.name !== 'RUNNING', 180_000, 1000);
    expect(await handle.result()).toMatchObject({ status: 'aborted' });
    expect(await ctx.db('upload_sessions').where({ id }).first()).toMatchObject({ status: 'aborted' });
  } finally {
    await worker?.kill();
    await next?.stop();
  }
}, 360_000);
