/**
 * Issue 26, finding 15: a worker stopped while a local activity is in flight. The simple upload's
 * one-step finish (finishStagedUpload) is a local activity; the worker is shut down while it fails
 * and retries (S3 refused), the process lives on as a test run's does, and another worker finishes
 * the upload: no panic in the Temporal core ("receive half not dropped"), and one version, once.
 */
import { bytesOf, sha256, uploadAsset } from './support/assets';
import { startTestService, type TestContext } from './support/context';
import { envFor, spawnService, waitUntil } from './support/processes';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';
import { temporal } from '@temporalio/proto';

const MiB = 1024 * 1024;
// Past the local activities' start-to-close time (workflows/uploads/workflow.ts): what the core
// set to fire for them has fired by then.
const LINGER_MS = 25_000;

let ctx: TestContext;
let proxy: TcpProxy;
beforeAll(async () => {
  ctx = await startTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '120' }, { worker: false });
  proxy = await startTcpProxy(Number(new URL(ctx.config.s3.endpoint).port));
});
afterAll(async () => {
  await proxy?.close();
  await ctx?.stop();
});

async function hasWorkflowPoller(): Promise<boolean> {
  const { pollers } = await ctx.temporal.client.workflowService.describeTaskQueue({
    namespace: ctx.config.temporal.namespace,
    taskQueue: { name: ctx.config.temporal.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (pollers ?? []).length > 0;
}

it('a worker stopped while the one-step finish retries: no panic in the core, and another worker commits the upload once', async () => {
  const env = envFor(ctx.config, { STORAGE_S3_ENDPOINT_URL: `http://127.0.0.1:${proxy.port}`, STORAGE_TEST_LINGER_MS: String(LINGER_MS) });
  const stopping = spawnService('test/support/stoppingWorker.ts', env);
  try {
    await waitUntil('the worker to poll its task queue', hasWorkflowPoller, 60_000, 250);
    // The finish's check of the staged object fails at once, and the local activity retries in the worker.
    proxy.down();
    const file = bytesOf(MiB);
    const answer = uploadAsset(ctx.baseUrl, file, { name: 'in-flight.bin' });
    await waitUntil('the finish to be under way', async () => (await ctx.db('upload_sessions').first())?.status === 'completing');
    // Three tries of the store per attempt (the S3 client's own): past six, the local activity has been retried.
    await waitUntil('the local activity to be retried', async () => proxy.refused > 6, 30_000);
    stopping.child.kill('SIGTERM');
    await waitUntil('the worker to stop', async () => stopping.output().includes('worker stopped'), 60_000);
    await waitUntil('the stopped worker process to exit', async () => stopping.child.exitCode !== null, LINGER_MS + 30_000, 250);
    expect(stopping.output()).not.toMatch(/panicked/);

    proxy.up();
    const successor = await ctx.startWorker();
    const res = await answer.finally(() => successor.stop());
    expect(res.status).toBe(201);
    expect(res.body.checksum_sha256).toBe(sha256(file));
    expect(await ctx.db('asset_versions').where({ asset_id: res.body.id }).count({ n: '*' })).toEqual([{ n: 1 }]);
    expect(await ctx.db('audit_log').where({ action: 'upload.commit' }).count({ n: '*' })).toEqual([{ n: 1 }]);
  } finally {
    await stopping.kill();
  }
}, 180_000);
