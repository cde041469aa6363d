/**
 * With no worker to run uploadWorkflow, a request that opens an upload does not wait forever: after
 * ten seconds it answers 503 with Retry-After. A chunked session stages nothing. A simple upload's
 * run is started without waiting for a worker, so its file is staged first: the 503 comes when no
 * worker takes its `complete`, and the run, told to abort, removes the bytes once a worker is back,
 * and never makes the version. With a worker, the same requests work.
 */
import { bytesOf, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { createUpload, openMultipartKeys } from './support/chunked';
import { useTestService } from './support/context';
import { expectProblem } from './support/http';
import { waitUntil } from './support/processes';

const ctx = useTestService({}, { worker: false });

it('answers 503 with Retry-After for a new session and a simple upload; what was staged goes once a worker is back', async () => {
  const session = await createUpload(ctx.baseUrl, { name: 'no worker.bin', size_bytes: 1000 });
  expectProblem(session, 503);
  expect(session.headers.get('retry-after')).toBe('5');
  expect(await objectKeys(ctx, 'assets/')).toEqual([]);
  // The client is told which upload it was: its run, taken later, is told to abort and opens nothing that stays.
  const refusedId: string = session.body.upload_id;
  expect(refusedId).toEqual(expect.any(String));

  const simple = await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'no worker either.bin' });
  expectProblem(simple, 503);
  expect(simple.headers.get('retry-after')).toBe('5');

  await ctx.startWorker();
  const count = async (table: string, where: Record<string, string> = {}) => Number((await ctx.db(table).where(where).count({ n: '*' }))[0].n);
  await waitUntil(
    'the refused upload to leave nothing',
    async () => (await objectKeys(ctx, 'assets/')).length === 0 && (await count('upload_sessions', { kind: 'simple' })) === 0,
  );
  expect(await count('assets')).toBe(0);
  const refused = await waitUntil('the refused session to end', async () => {
    const row = await ctx.db('upload_sessions').where({ id: refusedId }).first();
    return row && row.status !== 'open' && row;
  });
  expect(refused).toMatchObject({ status: 'aborted', error: 'not opened in time: no worker answered' });
  expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, 'assets/')).toEqual([]);
  expect((await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'a worker again.bin' })).status).toBe(201);
});
