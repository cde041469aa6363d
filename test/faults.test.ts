/**
 * The reason uploads run on Temporal: a worker killed mid-upload, S3 going away during verification,
 * the API restarting in the middle of a chunked session. Each ends with one correct version.
 */
import { temporal } from '@temporalio/proto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import { createS3Client } from '../lib/platform/s3Client';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { addAsset, objectKeys } from './support/catalog';
import { call, expectProblem } from './support/http';
import { PART, completeUpload, createUpload, getUpload, partOf, putPart } from './support/chunked';
import { useTestService, type TestContext } from './support/context';
import { envFor, spawnService, waitUntil } from './support/processes';
import { freePorts } from '../scripts/stack';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

const MiB = 1024 * 1024;

let proxy: TcpProxy;
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await proxy?.close();
});
// No worker of its own: each test decides where its workers run and which S3 they see.
const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '120' }, { worker: false });
beforeAll(async () => {
  proxy = await startTcpProxy(Number(new URL(ctx.config.s3.endpoint).port));
});
afterEach(() => proxy.up());

const proxiedS3 = () => `http://127.0.0.1:${proxy.port}`;

async function eventsOf(assetId: string): Promise<string[]> {
  return ctx.db('outbox_events').where({ subject: assetId }).orderBy('sequence').pluck('type');
}

async function hasWorkflowPoller(c: TestContext): Promise<boolean> {
  const { pollers } = await c.temporal.client.workflowService.describeTaskQueue({
    namespace: c.config.temporal.namespace,
    taskQueue: { name: c.config.temporal.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (pollers ?? []).length > 0;
}

async function sessionOfLatestUpload(): Promise<{ id: string; status: string } | undefined> {
  return ctx.db('upload_sessions').orderBy('created_at', 'desc').first();
}

it('a worker killed after complete was accepted and before the commit: a new worker completes the upload exactly once', async () => {
  // The doomed worker reaches S3 through the proxy; stalled, its check of the staged object hangs.
  const doomed = spawnService('worker/main.ts', envFor(ctx.config, { STORAGE_S3_ENDPOINT_URL: proxiedS3() }));
  try {
    // The upload is sent once the worker polls: one that starts slower than the API waits to open a
    // session (a loaded machine) would have the upload refused 503 instead.
    await waitUntil('the spawned worker to poll its task queue', () => hasWorkflowPoller(ctx), 60_000, 250);
    proxy.stall();
    const file = bytesOf(3 * MiB);
    const answer = uploadAsset(ctx.baseUrl, file, { name: 'phoenix.png', checksum_sha256: sha256(file) });
    const session = await waitUntil('the upload to be completing', async () => {
      const s = await sessionOfLatestUpload();
      return s?.status === 'completing' ? s : undefined;
    });
    expect(await ctx.db('asset_versions').count({ n: '*' })).toEqual([{ n: 0 }]);
    await doomed.kill();

    proxy.up();
    const successor = await ctx.startWorker();
    const res = await answer.finally(() => successor.stop());
    expect(res.status).toBe(201);
    const assetId = res.body.id;
    expect(res.body.checksum_sha256).toBe(sha256(file));

    const versions = await ctx.db('asset_versions').where({ asset_id: assetId });
    expect(versions).toHaveLength(1);
    expect(await objectKeys(ctx, `assets/${assetId}/`)).toEqual([versions[0].object_key]);
    expect(await eventsOf(assetId)).toEqual(['storage.asset.created', 'storage.version.created']);
    expect((await ctx.db('upload_sessions').where({ id: session.id }).first()).status).toBe('completed');
    expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`)).body)).toBe(sha256(file));
  } finally {
    await doomed.kill();
  }
}, 120_000);

it('S3 stops answering after complete: once it is back, the retries finish the upload', async () => {
  const worker = await ctx.startWorker({ s3Endpoint: proxiedS3() });
  try {
    proxy.down();
    const file = bytesOf(2 * MiB);
    const answer = uploadAsset(ctx.baseUrl, file, { name: 'lich.png', checksum_sha256: sha256(file) });
    // The worker's check of the staged object is its first S3 request; three of them refused.
    const session = await waitUntil('the worker to have tried S3 three times', async () => {
      const s = await sessionOfLatestUpload();
      return s?.status === 'completing' && proxy.refused >= 3 ? s : undefined;
    });
    const stagedKey = ctx.db('upload_sessions').select('object_key').where({ id: session.id });
    expect(await ctx.db('asset_versions').whereIn('object_key', stagedKey)).toHaveLength(0);

    proxy.up();
    const res = await answer;
    expect(res.status).toBe(201);
    expect(await ctx.db('asset_versions').where({ asset_id: res.body.id })).toHaveLength(1);
    expect(await eventsOf(res.body.id)).toEqual(['storage.asset.created', 'storage.version.created']);
  } finally {
    await worker.stop();
  }
}, 90_000);

it('S3 dies while a chunked upload is read back for verification: once it is back, the retries finish the upload', async () => {
  const worker = await ctx.startWorker({ s3Endpoint: proxiedS3() });
  try {
    const file = bytesOf(PART + 4321);
    const created = await createUpload(ctx.baseUrl, { name: 'wyrm.map', size_bytes: file.length, checksum_sha256: sha256(file), part_size_bytes: PART });
    const uploadId = created.body.id;
    // Out of order, so the finish reads the object back (parts sent in order are hashed on the way instead).
    for (const n of [2, 1]) expect((await putPart(ctx.baseUrl, uploadId, n, partOf(file, n))).status).toBe(200);
    // The read-back is the worker's only GetObject (the SDK names the operation in the query).
    proxy.downOnRequest(/^GET \S*[?&]x-id=GetObject[&\s]/);
    const answer = completeUpload(ctx.baseUrl, uploadId);
    await waitUntil('verification to have failed twice', async () => {
      const description = await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(uploadId)).describe();
      const pending = description.raw.pendingActivities?.[0];
      return pending?.activityType?.name === 'verifyObject' && (pending.attempt ?? 0) >= 3;
    });
    expect(await ctx.db('asset_versions').where({ object_key: (await ctx.db('upload_sessions').where({ id: uploadId }).first()).object_key })).toHaveLength(0);

    proxy.up();
    const done = await answer;
    expect(done.status).toBe(200);
    expect(done.body.version.checksum_sha256).toBe(sha256(file));
    expect(await eventsOf(done.body.asset.id)).toEqual(['storage.asset.created', 'storage.version.created']);
  } finally {
    proxy.up();
    await worker.stop();
  }
}, 90_000);

it('the API process restarts in the middle of a chunked session: the client goes on and completes, nothing lost', async () => {
  const worker = await ctx.startWorker();
  const port = (await freePorts(1))[0];
  const env = envFor(ctx.config, { STORAGE_PORT: String(port) });
  const api = `http://127.0.0.1:${port}`;
  let first = spawnService('api/server.ts', env);
  let second: ReturnType<typeof spawnService> | undefined;
  try {
    await waitUntil('the API to listen', async () => (await fetch(`${api}/health/live`).catch(() => undefined))?.ok);
    const file = bytesOf(3 * PART - 1234);
    const created = await createUpload(api, { name: 'tomb.map', size_bytes: file.length, checksum_sha256: sha256(file), part_size_bytes: PART });
    expect(created.status).toBe(201);
    const uploadId = created.body.id;
    expect((await putPart(api, uploadId, 1, partOf(file, 1))).status).toBe(200);

    await first.kill();
    second = spawnService('api/server.ts', env);
    await waitUntil('the restarted API to listen', async () => (await fetch(`${api}/health/live`).catch(() => undefined))?.ok);

    const status = await getUpload(api, uploadId);
    expect(status.body).toMatchObject({ status: 'open', parts_received: [1], bytes_received: PART });
    for (const n of [3, 2]) expect((await putPart(api, uploadId, n, partOf(file, n))).status).toBe(200);
    const done = await completeUpload(api, uploadId);
    expect(done.status).toBe(200);
    expect(done.body.version.checksum_sha256).toBe(sha256(file));
    const got = await download(`${api}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
    first = second;
  } finally {
    await first.kill();
    await second?.kill();
    await worker.stop();
  }
}, 90_000);

/** An API of its own over the same catalog, whose S3 client reaches the store through the proxy. */
async function serveThroughProxy(): Promise<{ url: string; close(): Promise<void> }> {
  const config = { ...ctx.config, s3: { ...ctx.config.s3, endpoint: proxiedS3() } };
  const s3 = createS3Client(config.s3);
  const server: Server = await new Promise((resolve) => {
    const s = buildApp({ config, db: ctx.db, s3, temporal: ctx.temporal, logger: ctx.logger }).listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      s3.destroy();
    },
  };
}

it('S3 unreachable: a content read, an upload and a read of a session that lists its parts in S3 answer 503 with Retry-After; /health/ready names the object store', async () => {
  const worker = await ctx.startWorker();
  const api = await serveThroughProxy();
  try {
    const file = bytesOf(1000);
    const asset = (await addAsset(ctx.baseUrl, file, { name: 'kobold.png' })).body;
    const chunked = bytesOf(PART + 10);
    const session = await createUpload(api.url, { name: 'map.bin', size_bytes: chunked.length, part_size_bytes: PART });
    expect((await putPart(api.url, session.body.id, 1, partOf(chunked, 1))).status).toBe(200);
    expect((await getUpload(api.url, session.body.id)).body.parts_received).toEqual([1]);
    const assetsBefore = await ctx.db('assets').count({ n: '*' });

    proxy.down();
    const unavailable = (res: Awaited<ReturnType<typeof call>>) => {
      expectProblem(res, 503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body).toMatchObject({ dependency: 'object_store' });
      expect(res.body.detail).not.toMatch(/127\.0\.0\.1|ECONN/);
    };
    unavailable(await call(`${api.url}/api/v2/assets/${asset.id}/content`));
    unavailable(await uploadAsset(api.url, bytesOf(2000), { name: 'lost.png' }));
    unavailable(await getUpload(api.url, session.body.id));
    expect(await ctx.db('assets').count({ n: '*' })).toEqual(assetsBefore);

    const ready = await call(`${api.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready', down: ['object_store'], checks: { object_store: { status: 'down' }, database: { status: 'ok' } } });

    proxy.up();
    expect((await getUpload(api.url, session.body.id)).body.parts_received).toEqual([1]);
    expect(sha256((await download(`${api.url}/api/v2/assets/${asset.id}/content`)).body)).toBe(sha256(file));
  } finally {
    proxy.up();
    await api.close();
    await worker.stop();
  }
}, 90_000);
