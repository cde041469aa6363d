/** The version expiry phase: noncurrent versions the plan takes, their objects first, then their rows. */
import type { Knex } from 'knex';
import type { AuditWriter } from '../audit/log';
import { deleteVersionRows } from '../assets/store';
import { claimVersionsForDeletion } from '../assets/versions';
import { pausePoint } from '../assets/pausePoints';
import { sweepEntries, type BatchOutcome } from './batchOutcome';
import { versionCandidates, versionCandidatesQuery, type VersionCandidate, type VersionCursor } from './candidates';
import { insertRunItems } from './store';
import { commitBatch, getRun, lockRun, startedRun } from './runRows';
import { nextPhase, type LifecycleRunRow } from './runs';

type VersionBatch = { candidates: VersionCandidate[]; scannedThrough: string | null };

/**
 * Removes the rows of the versions claimed (a dry run: of every candidate) and records the batch, if no
 * other attempt has: in one transaction with the run's row locked.
 */
async function commitVersionBatch(db: Knex, run: LifecycleRunRow, batch: VersionBatch, claimed: VersionCandidate[], audit: AuditWriter): Promise<BatchOutcome> {
  const { candidates } = batch;
  return db.transaction(async (trx) => {
    const locked = await lockRun(trx, run.id);
    if (locked.step !== run.step || locked.phase !== run.phase) return { phase: locked.phase, processed: 0 };
    const removed = run.dry_run
      ? candidates
      : await deleteVersionRows(
          trx,
          claimed.map((c) => c.id),
        );
    // A full batch may have more in its last asset; a short one has seen every asset up to scannedThrough.
    const last = candidates[candidates.length - 1];
    const cursor: VersionCursor =
      candidates.length === run.batch_size
        ? { asset_id: last.asset_id, version_number: last.version_number }
        : { asset_id: batch.scannedThrough!, version_number: null };
    await commitBatch(trx, run, {
      cursor,
      counts: { versions_expired: removed.length, bytes_freed: removed.reduce((sum, v) => sum + v.size_bytes, 0) },
    });
    if (run.dry_run) {
      await insertRunItems(
        trx,
        run.id,
        removed.map((v) => ({ action: 'expire_version', item_id: v.id, asset_id: v.asset_id, size_bytes: v.size_bytes })),
      );
    } else {
      await audit(
        trx,
        sweepEntries(
          run,
          'lifecycle.expire_version',
          removed.map((v) => ({ asset_id: v.asset_id, version_id: v.id })),
        ),
      );
    }
    return { phase: run.phase, processed: removed.length, changed: run.dry_run ? [] : [...new Set(removed.map((v) => v.asset_id))] };
  });
}

/**
 * The batch's candidates still candidates under their assets' locks, marked deleting
 * (claimVersionsForDeletion): the plan's query run again over the same assets from the same cursor.
 */
async function claimBatch(db: Knex, run: LifecycleRunRow, candidates: VersionCandidate[]): Promise<VersionCandidate[]> {
  const { plan, asOf } = startedRun(run);
  const after = (run.cursor as VersionCursor | null) ?? undefined;
  const range = { from: candidates[0].asset_id, to: candidates[candidates.length - 1].asset_id, after };
  const ids = candidates.map((c) => c.id);
  return claimVersionsForDeletion(db, ids, async (trx) =>
    (await versionCandidatesQuery(trx, plan, asOf, range, run.batch_size)!).map((c: VersionCandidate) => c.id),
  );
}

/**
 * One batch of version expiry. The candidates are picked without a lock, then claimed: re-checked
 * and marked under their assets' locks, so a version made current meanwhile (an overwrite restore)
 * is skipped. Then the claimed versions' objects go, then their rows with the counts (a crash
 * between leaves rows whose objects are gone, which the next attempt or run picks again: never an
 * object without its row). `retireVersions` removes the versions' objects from the bucket (handed to
 * running backups first: lib/backups/handoff.ts) and is idempotent.
 */
export async function expireVersionsBatch(
  db: Knex,
  runId: string,
  retireVersions: (versions: VersionCandidate[]) => Promise<void>,
  audit: AuditWriter,
): Promise<BatchOutcome> {
  const run = await getRun(db, runId);
  if (run.phase !== 'versions') return { phase: run.phase, processed: 0 };
  const { plan, asOf } = startedRun(run);
  const batch = await versionCandidates(db, plan, asOf, run.cursor as VersionCursor | null, run.batch_size);
  if (!batch || batch.scannedThrough === null) {
    await commitBatch(db, run, { cursor: null, phaseDone: true });
    return { phase: nextPhase(run.phase), processed: 0 };
  }
  await pausePoint('versions-picked', [...new Set(batch.candidates.map((c) => c.asset_id))]);
  if (run.dry_run || batch.candidates.length === 0) return commitVersionBatch(db, run, batch, batch.candidates, audit);
  const claimed = await claimBatch(db, run, batch.candidates);
  await pausePoint('versions-claimed', [...new Set(claimed.map((c) => c.asset_id))]);
  if (claimed.length) await retireVersions(claimed);
  return commitVersionBatch(db, run, batch, claimed, audit);
}
