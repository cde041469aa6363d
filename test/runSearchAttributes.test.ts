/**
 * An operator looking for one asset's runs in Temporal (`AssetId="<id>"`) finds every run that touched
 * it alone: its uploads, a backup and a restore of that one asset, a point-in-time restore of it and the
 * new version that restore wrote, and its permanent deletion. Each is started through the API; the runs
 * are found through the visibility store, which is eventually consistent, so the test waits on the list.
 */
import { bytesOf, postForm, uploadAsset } from './support/assets';
import { backupWorkflowId } from '../workflows/backups/definitions';
import { awaitJob } from './support/backups';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
}, 60_000);
afterAll(async () => {
  await ctx?.stop();
});

/** The runs of this file's task queue that carry AssetId `id`: workflow type, and StorageOperation. */
async function runsOf(id: string): Promise<Array<{ type: string; operation: unknown }>> {
  const runs: Array<{ type: string; operation: unknown }> = [];
  const query = `AssetId = "${id}" AND TaskQueue = "${ctx.config.temporal.taskQueue}"`;
  for await (const run of ctx.temporal.client.workflow.list({ query })) {
    runs.push({ type: run.type, operation: run.typedSearchAttributes.getAll().find((pair) => pair.key.name === 'StorageOperation')?.value });
  }
  return runs;
}

/** A moment after everything so far and before anything after. */
async function now(): Promise<string> {
  const at = Date.now();
  await waitUntil('the clock to move', async () => Date.now() > at + 2);
  return new Date(at).toISOString();
}

it('finds every run that touched one asset by its AssetId: uploads, a one-asset backup and restore, a point-in-time restore, the deletion', async () => {
  const uploaded = await uploadAsset(ctx.baseUrl, bytesOf(4096), { name: 'portrait.png' });
  expect(uploaded.status).toBe(201);
  const id: string = uploaded.body.id;
  const other = await uploadAsset(ctx.baseUrl, bytesOf(1024), { name: 'map.png' });
  expect(other.status).toBe(201);

  const backup = await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', json: { asset_ids: [id] } });
  expect(backup.status).toBe(202);
  expect((await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).status).toBe('completed');

  const restore = await call(`${ctx.baseUrl}/api/v2/backups/${backup.body.id}/restore`, {
    method: 'POST',
    json: { asset_ids: [id], mode: 'overwrite', dry_run: false },
  });
  expect(restore.status).toBe(202);
  expect((await awaitJob(ctx, `/api/v2/restores/${restore.body.id}`)).status).toBe('completed');

  // A second version, then a restore of the asset to before it: that writes a third, through an upload run.
  const asOf = await now();
  expect((await postForm(`${ctx.baseUrl}/api/v2/assets/${id}/versions`, bytesOf(2048))).status).toBe(201);
  const pointInTime = await call(`${ctx.baseUrl}/api/v2/restores`, { method: 'POST', json: { as_of: asOf, asset_ids: [id], dry_run: false } });
  expect(pointInTime.status).toBe(202);
  expect((await awaitJob(ctx, `/api/v2/restores/${pointInTime.body.id}`)).status).toBe('completed');
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${id}`)).body.version_count).toBe(3);

  expect([202, 204]).toContain((await call(`${ctx.baseUrl}/api/v2/assets/${id}?permanent=true`, { method: 'DELETE' })).status);

  const expected = [
    { type: 'uploadWorkflow', operation: 'upload' },
    { type: 'backupWorkflow', operation: 'backup' },
    { type: 'restoreWorkflow', operation: 'restore' },
    { type: 'pointInTimeRestoreWorkflow', operation: 'restore' },
    { type: 'deleteAssetWorkflow', operation: 'delete' },
  ];
  const runs = await waitUntil(
    `the runs of asset ${id} to be listed`,
    async () => {
      const found = await runsOf(id);
      // Three uploads: the first version, the second, and the one the point-in-time restore wrote.
      const uploads = found.filter((run) => run.type === 'uploadWorkflow').length;
      return uploads === 3 && expected.every((want) => found.some((run) => run.type === want.type)) ? found : undefined;
    },
    30_000,
    250,
  );
  expect(runs).toEqual(expect.arrayContaining(expected));
  expect(runs).toHaveLength(7);
  // The other asset's upload is its own, and no run named both.
  expect(await runsOf(other.body.id)).toEqual([{ type: 'uploadWorkflow', operation: 'upload' }]);
}, 180_000);

it('a backup or restore of several assets names none of them: AssetId is one asset', async () => {
  const ids: string[] = [];
  for (const name of ['a.png', 'b.png']) ids.push((await uploadAsset(ctx.baseUrl, bytesOf(512), { name })).body.id);
  const backup = await call(`${ctx.baseUrl}/api/v2/backups`, { method: 'POST', json: { asset_ids: ids } });
  expect(backup.status).toBe(202);
  expect((await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).status).toBe('completed');
  const description = await ctx.temporal.client.workflow.getHandle(backupWorkflowId(backup.body.id)).describe();
  expect(description.typedSearchAttributes.getAll().map((pair) => pair.key.name)).not.toContain('AssetId');
}, 120_000);
