/**
 * Issue 26: no run waits for long on a worker that died. A fetch (service.asset.requested) streams its
 * source for as long as the source takes; a worker killed while it streams is noticed within the
 * step's heartbeat timeout (a minute), and another worker fetches again, instead of the run waiting out
 * the attempt's hour.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { temporal } from '@temporalio/proto';
import type { UploadState } from '../workflows/uploads/definitions';
import { bytesOf } from './support/assets';
import { useTestService, type RunningWorker } from './support/context';
import { assetRequested, postEvent } from './support/events';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';

const { PendingActivityState } = temporal.api.enums.v1;
const SIZE = 100_000;
let source: http.Server;
let sourceUrl: string;
let requests = 0;

beforeAll(async () => {
  // The first request gets half the body, then nothing (its fetcher is to die); later ones get it all.
  source = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-length': String(SIZE) });
    if (requests === 1) res.write(bytesOf(SIZE / 2));
    else res.end(bytesOf(SIZE));
  });
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}/map.png`;
});
const ingestEnv = () => ({ STORAGE_INGEST_ALLOWED_HOSTS: new URL(sourceUrl).host, STORAGE_INGEST_TIMEOUT_SECONDS: '3600' });
const ctx = useTestService(ingestEnv, { worker: false });
afterAll(async () => {
  source?.closeAllConnections();
  source?.close();
});

test('a worker killed while it fetches a source: another worker fetches it again within the heartbeat timeout', async () => {
  let worker: ServiceProcess | undefined = spawnService('worker/main.ts', envFor(ctx.config, ingestEnv()));
  let next: RunningWorker | undefined;
  try {
    const res = await postEvent(ctx.baseUrl, assetRequested({ source_url: sourceUrl, name: 'map.png' }));
    expect(res.status).toBe(202);
    const workflowId: string = res.body.workflow_id;
    const handle = ctx.temporal.client.workflow.getHandle(workflowId);
    await waitUntil(
      'the fetch to be streaming on the spawned worker',
      async () =>
        requests === 1 &&
        (await handle.describe()).raw.pendingActivities?.some(
          (a) => a.activityType?.name === 'fetchSource' && a.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
        ),
      120_000,
      500,
    );
    await worker.kill();
    worker = undefined;
    next = await ctx.startWorker();
    const state = (await handle.result()) as UploadState;
    expect(state).toMatchObject({ status: 'completed' });
    expect(requests).toBe(2);
    const version = await ctx.db('asset_versions').where({ id: state.result!.versionId }).first();
    expect(Number(version.size_bytes)).toBe(SIZE);
  } finally {
    await worker?.kill();
    await next?.stop();
  }
}, 240_000);
