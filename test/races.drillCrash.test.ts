/**
 * Issue 28, crash review of the restore drill: its worker is killed (SIGKILL) in the middle of its
 * sample, a new worker resumes it from its row. Each sampled asset is counted once (assets_checked
 * equals the sample, bytes_checked the sampled bytes), the drill passes, and no scratch is left in the
 * asset bucket (what the killed attempt copied is removed by the resumed one).
 */
import { startDrill } from '../lib/drills/drillRuns';
import { TEST_ADMIN } from './support/auth';
import { backupClientOf, resetAll, runBackup, seedCatalog, settled } from './support/backups';
import { keysOf } from './support/catalog';
import { useTestService } from './support/context';
import { envFor, spawnService, waitUntil } from './support/processes';

const ASSETS = 160;
const ctx = useTestService({ STORAGE_RESTORE_DRILL_SAMPLE_ASSETS: String(ASSETS * 2) }, { worker: false });

afterEach(async () => {
  await resetAll(ctx);
});

it('a drill whose worker is killed mid-sample resumes on a new worker: every asset counted once, a pass, no scratch left', async () => {
  const seeded = await seedCatalog(ctx, ASSETS, { maxBytes: 48 * 1024 });
  const first = await ctx.startWorker();
  try {
    expect((await runBackup(ctx)).status).toBe('completed');
  } finally {
    await first.stop();
  }
  const doomed = spawnService('worker/main.ts', envFor(ctx.config, { STORAGE_RESTORE_DRILL_SAMPLE_ASSETS: String(ASSETS * 2) }));
  try {
    const row = await startDrill(backupClientOf(ctx), TEST_ADMIN);
    const checked = async () => Number((await ctx.db('restore_drills').where({ id: row.id }).first('assets_checked')).assets_checked);
    await waitUntil('the doomed worker to have checked some assets', async () => (await checked()) >= 10, 120_000, 20);
    await doomed.kill();
    const atKill = await checked();
    expect(atKill).toBeLessThan(ASSETS);
    const successor = await ctx.startWorker();
    try {
      await settled(ctx, row.workflow_id);
    } finally {
      await successor.stop();
    }
    const done = await ctx.db('restore_drills').where({ id: row.id }).first();
    const sampledBytes = seeded.reduce((n, a) => n + a.versions.reduce((m, v) => m + v.size, 0), 0);
    expect({ status: done.status, total: done.assets_total, checked: done.assets_checked, failures: done.failures }).toEqual({
      status: 'passed',
      total: ASSETS,
      checked: ASSETS,
      failures: [],
    });
    expect(Number(done.bytes_checked)).toBe(sampledBytes);
    expect(await keysOf(ctx, ctx.config.s3.bucket, 'drills/')).toEqual([]);
  } finally {
    await doomed.kill();
  }
}, 300_000);
