/** The expire_assets phase: stale live assets soft-deleted, a batch per transaction. */
import type { Knex } from 'knex';
import type { AuditWriter } from '../audit/log';
import { softDeleteLiveAssets } from '../assets/store';
import { recordEvent } from '../events/outbox';
import { sweepEntries, type BatchOutcome } from './batchOutcome';
import { expireCandidates, type TimeCursor } from './candidates';
import { insertRunItems } from './store';
import { commitBatch, lockRun, startedRun } from './runRows';
import { nextPhase, type LifecycleRunRow } from './runs';

/** Soft-deletes those still live, each with its storage.asset.deleted event and audit row; answers how many. */
async function softDeleteExpired(trx: Knex.Transaction, run: LifecycleRunRow, ids: string[], audit: AuditWriter): Promise<number> {
  const deleted = await softDeleteLiveAssets(trx, ids);
  for (const { id } of deleted) {
    await recordEvent(trx, 'storage.asset.deleted', id, { asset_id: id, permanent: false, reason: 'lifecycle', run_id: run.id });
  }
  await audit(
    trx,
    sweepEntries(
      run,
      'lifecycle.expire_asset',
      deleted.map(({ id }) => ({ asset_id: id })),
    ),
  );
  return deleted.length;
}

/** One batch of expire_assets: soft-deletes, with each asset's storage.asset.deleted event and audit row, in one transaction. */
export async function expireAssetsBatch(db: Knex, runId: string, audit: AuditWriter): Promise<BatchOutcome> {
  return db.transaction(async (trx) => {
    const run = await lockRun(trx, runId);
    if (run.phase !== 'assets') return { phase: run.phase, processed: 0 };
    const { plan, asOf } = startedRun(run);
    const rows = await expireCandidates(trx, plan, asOf, run.cursor as TimeCursor | null, run.batch_size, !run.dry_run);
    if (rows.length === 0) {
      await commitBatch(trx, run, { cursor: null, phaseDone: true });
      return { phase: nextPhase(run.phase), processed: 0 };
    }
    if (run.dry_run)
      await insertRunItems(
        trx,
        run.id,
        rows.map((r) => ({ action: 'expire_asset', item_id: r.id, asset_id: r.id, size_bytes: null })),
      );
    const expired = run.dry_run
      ? rows.length
      : await softDeleteExpired(
          trx,
          run,
          rows.map((r) => r.id),
          audit,
        );
    const last = rows[rows.length - 1];
    await commitBatch(trx, run, { cursor: { at: last.at, id: last.id }, counts: { assets_expired: expired } });
    return { phase: run.phase, processed: expired, changed: run.dry_run ? [] : rows.map((r) => r.id) };
  });
}
