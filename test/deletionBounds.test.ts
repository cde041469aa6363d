/**
 * Issue 26 (finding 14): a permanent deletion's steps heartbeat and their retries are bounded. A
 * worker killed in the middle of deleting an asset's objects is noticed within the heartbeat timeout
 * (not the step's 2 minutes) and another worker finishes the deletion; a deletion whose store keeps
 * failing ends after its bound, and the lifecycle sweep that started it counts it and finishes its
 * other work; the asset stays hidden, and the next sweep purges it once the store answers again.
 */
import { useTestService, type RunningWorker } from './support/context';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { bucketKeys, createPolicyRow, runSweep, seedAssets } from './support/lifecycle';
import { call } from './support/http';

const ctx = useTestService({}, { worker: false });
const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

let proxy: S3Proxy;
beforeEach(async () => {
  proxy = await startS3Proxy(ctx.config.s3.endpoint!);
});
afterEach(async () => {
  await proxy.close();
});

const isDeleteObjects = (path: string) => /[?&]delete(=|&|$)/.test(path);

test("a worker killed while it deletes an asset's objects: another worker finishes the deletion", async () => {
  const [asset] = await seedAssets(ctx, [{ name: 'killed-mid-delete.bin', noncurrentDaysAgo: [2, 1] }]);
  // The first worker reaches S3 through the proxy, which holds its DeleteObjects: it is mid-step when killed.
  proxy.hold((req) => isDeleteObjects(req.path));
  let worker: ServiceProcess | undefined = spawnService('worker/main.ts', envFor(ctx.config, { STORAGE_S3_ENDPOINT_URL: proxy.url }));
  let next: RunningWorker | undefined;
  try {
    const deletion = await call(url(`/assets/${asset.id}?permanent=true`), { method: 'DELETE' });
    expect(deletion.status).toBe(202);
    await waitUntil('the worker to be deleting the objects', async () => proxy.held() > 0, 120_000, 100);
    await worker.kill();
    worker = undefined;
    next = await ctx.startWorker();
    await waitUntil(
      'the deletion finished by the new worker',
      async () => !(await ctx.db('assets').where({ id: asset.id }).first()) && (await bucketKeys(ctx, `assets/${asset.id}/`)).length === 0,
      60_000,
      500,
    );
  } finally {
    await worker?.kill();
    await next?.stop();
  }
}, 240_000);

test('a purge whose store keeps failing ends after its bound; the sweep completes its other work, and the next sweep purges it', async () => {
  const [failing, healthy] = await seedAssets(ctx, [
    { name: 'store-fails.bin', deletedDaysAgo: 5 },
    { name: 'store-works.bin', deletedDaysAgo: 5 },
  ]);
  await createPolicyRow(ctx, { name: 'purge', rules: [{ action: 'purge_deleted', days: 1 }] });
  // The store answers 500 to every listing of the failing asset's objects, the deletion's first S3 step.
  proxy.rewriteAnswers(
    (req) => req.method === 'GET' && req.path.includes(encodeURIComponent(`assets/${failing.id}/`)),
    (answer) => ({
      status: 500,
      headers: { ...answer.headers, 'content-type': 'application/xml' },
      body: Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>'),
    }),
  );
  const faulty = await ctx.startWorker({ s3Endpoint: proxy.url });
  const first = await runSweep(ctx);
  expect(first).toMatchObject({ status: 'completed', assets_purged: 1 });
  expect(Number((first as unknown as { purges_failed: number | string }).purges_failed)).toBe(1);
  expect(await ctx.db('assets').where({ id: healthy.id }).first()).toBeUndefined();
  // Hidden (soft-deleted, purging), its bytes still there: nothing half-done is shown.
  expect(await ctx.db('assets').where({ id: failing.id }).first()).toMatchObject({ is_deleted: true, purging_since: expect.any(Date) });
  expect((await call(url(`/assets/${failing.id}`))).status).toBe(404);

  // The store answers again: the next sweep purges it.
  proxy.rewriteAnswers();
  await faulty.stop();
  const healthyWorker = await ctx.startWorker();
  const second = await runSweep(ctx);
  await healthyWorker.stop();
  expect(second).toMatchObject({ status: 'completed', assets_purged: 1 });
  expect(await ctx.db('assets').where({ id: failing.id }).first()).toBeUndefined();
  expect(await bucketKeys(ctx, `assets/${failing.id}/`)).toEqual([]);
}, 420_000);
