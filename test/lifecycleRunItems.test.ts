/**
 * A dry lifecycle run's items (issue 29) when a batch is picked again: the purge phase's batch is
 * recorded as it is handed to the workflow, before the batch's commit, so an activity whose answer
 * was lost (a worker crash) picks the same batch again. Each item stays recorded once.
 */
import { nextPurgeBatch } from '../lib/lifecycle/workflowBatches';
import { startTestService, type TestContext } from './support/context';
import { createPolicyRow, resetCatalog, runSweep, seedAssets } from './support/lifecycle';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService();
});
afterAll(async () => {
  await resetCatalog(ctx);
  await ctx?.stop();
});

test("a dry run's purge batch picked again records no item twice", async () => {
  const gone = await seedAssets(
    ctx,
    Array.from({ length: 3 }, (_, i) => ({ name: `items/gone-${i}.png`, deletedDaysAgo: 40 })),
  );
  await createPolicyRow(ctx, { name: 'items', rules: [{ action: 'purge_deleted', days: 30 }] });
  const dry = await runSweep(ctx, { dryRun: true });
  expect(dry).toMatchObject({ status: 'completed', assets_purged: gone.length });
  const items = () => ctx.db('lifecycle_run_items').where({ run_id: dry.id }).orderBy('seq').select('action', 'item_id');
  const recorded = await items();
  expect(recorded.map((i) => i.item_id).sort()).toEqual(gone.map((a) => a.id).sort());

  // As the run was when its purge batch was handed out and the activity's answer lost: picked again, twice.
  await ctx.db('lifecycle_runs').where({ id: dry.id }).update({ phase: 'purge', cursor: null });
  for (let attempt = 0; attempt < 2; attempt++) {
    const batch = await nextPurgeBatch(ctx.db, dry.id);
    expect('items' in batch && batch.items.map((a) => a.assetId).sort()).toEqual(gone.map((a) => a.id).sort());
  }
  expect(await items()).toEqual(recorded);
});
