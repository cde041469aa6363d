/**
 * With no worker to run uploadWorkflow, a request that opens an upload does not wait forever: after
 * ten seconds it answers 503 with Retry-After, having staged nothing. Once a worker is back, the
 * same requests work.
 */
import { bytesOf, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { createUpload } from './support/chunked';
import { startTestService, type TestContext } from './support/context';
import { expectProblem } from './support/http';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({}, { worker: false });
});
afterAll(async () => {
  await ctx?.stop();
});

it('answers 503 with Retry-After for a new session and a simple upload, and stages no byte', async () => {
  const session = await createUpload(ctx.baseUrl, { name: 'no worker.bin', size_bytes: 1000 });
  expectProblem(session, 503);
  expect(session.headers.get('retry-after')).toBe('5');

  const simple = await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'no worker either.bin' });
  expectProblem(simple, 503);
  expect(await objectKeys(ctx, 'assets/')).toEqual([]);

  await ctx.startWorker();
  expect((await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'a worker again.bin' })).status).toBe(201);
});
