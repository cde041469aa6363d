/**
 * Issue 26, finding 5 (its parts outside backups): a lifecycle purge meets the owner's restore of the
 * asset it picked. The test holds the asset's row (a second connection) until the purge waits for it,
 * restores the asset in that same transaction (the API's own restoreAsset), then lets go: the purge
 * finds the asset live and leaves it, and the sweep counts nothing purged. An explicit permanent
 * deletion is not a purge: it removes the asset whatever its state.
 */
import type { Knex } from 'knex';
import { restoreAsset, softDeleteAsset } from '../lib/assets/assets';
import { NO_AUDIT } from '../lib/audit/log';
import type { LifecycleRunRow } from '../lib/lifecycle/sweep';
import { headObject } from '../lib/platform/storedObjects';
import { bytesOf, sha256, uploadAsset, download } from './support/assets';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { createPolicyRow, daysAgo, resetCatalog, runSweep } from './support/lifecycle';
import { waitUntil } from './support/processes';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({ STORAGE_MAX_VERSIONS: '1000', STORAGE_VERSION_RETENTION_DAYS: '3650' });
});
afterAll(async () => {
  await ctx?.stop();
});
afterEach(async () => {
  await resetCatalog(ctx);
});

/** How many of this database's sessions wait for a row lock on assets. */
async function waitingForAssetRows(): Promise<number> {
  const { rows } = await ctx.db.raw(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%from "assets"%for update%'`,
  );
  return rows[0].n;
}

/** A live asset, soft-deleted 40 days ago, and a policy that purges what was deleted 30 days ago. */
async function oldDeletedAsset(bytes: Buffer): Promise<string> {
  const created = await uploadAsset(ctx.baseUrl, bytes, { name: 'race/purge.bin' });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`, { method: 'DELETE' })).status).toBe(204);
  await ctx
    .db('assets')
    .where({ id: assetId })
    .update({ deleted_at: daysAgo(40) });
  await createPolicyRow(ctx, { name: 'purge', rules: [{ action: 'purge_deleted', days: 30 }] });
  return assetId;
}

/**
 * Runs a sweep while this test holds the asset's row; once the sweep's purge waits for that row,
 * `meanwhile` runs in the holding transaction, which then commits. Answers the sweep's run.
 */
async function sweepMeetingPurge(assetId: string, meanwhile: (trx: Knex) => Promise<unknown>): Promise<LifecycleRunRow> {
  let sweep: Promise<LifecycleRunRow> | undefined;
  await ctx.db.transaction(async (trx) => {
    await trx('assets').where({ id: assetId }).forUpdate().first('id');
    sweep = runSweep(ctx);
    // The sweep has picked the asset and its purge waits for the row this transaction holds.
    await waitUntil('the purge to wait for the asset row', async () => (await waitingForAssetRows()) > 0, 60_000);
    await meanwhile(trx as unknown as Knex);
  });
  const run = await sweep!;
  expect(run.status).toBe('completed');
  return run;
}

/** The asset's row (not being purged) and its object are there. */
async function expectKept(assetId: string, isDeleted: boolean) {
  const row = await ctx.db('assets').where({ id: assetId }).first();
  expect(row).toBeDefined();
  expect(row.is_deleted).toBe(isDeleted);
  expect(row.purging_since).toBeNull();
  const { object_key: key } = await ctx.db('asset_versions').where({ asset_id: assetId }).first('object_key');
  expect(await headObject(ctx.s3, { bucket: ctx.config.s3.bucket, key })).toBeDefined();
}

it('a purge whose asset its owner restored after the sweep picked it leaves the asset live', async () => {
  const bytes = bytesOf(200);
  const assetId = await oldDeletedAsset(bytes);
  const run = await sweepMeetingPurge(assetId, (trx) => restoreAsset(trx, assetId, NO_AUDIT));

  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`);
  expect(asset.status).toBe(200);
  expect(asset.body.is_deleted).toBe(false);
  expect(run.assets_purged).toBe(0);
  await expectKept(assetId, false);
  const content = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(sha256(content.body)).toBe(sha256(bytes));
});

it('a purge whose asset was restored and deleted again after the pick leaves it until it is old enough', async () => {
  const bytes = bytesOf(200);
  const assetId = await oldDeletedAsset(bytes);
  const run = await sweepMeetingPurge(assetId, async (trx) => {
    await restoreAsset(trx, assetId, NO_AUDIT);
    await softDeleteAsset(trx, assetId, NO_AUDIT);
  });
  expect(run.assets_purged).toBe(0);
  await expectKept(assetId, true);
});

it('DELETE ?permanent=true still removes an asset its owner restored', async () => {
  const bytes = bytesOf(200);
  const assetId = await oldDeletedAsset(bytes);
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}/restore`, { method: 'POST' })).status).toBe(200);
  const deleted = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  expect([200, 202, 204]).toContain(deleted.status);
  await waitUntil('the asset to be gone', async () => (await ctx.db('assets').where({ id: assetId }).first()) === undefined, 60_000);
});
