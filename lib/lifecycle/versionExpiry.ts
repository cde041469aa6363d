/** The version expiry phase: noncurrent versions the plan takes, their objects first, then their rows. */
import type { Knex } from 'knex';
import type { AuditWriter } from '../audit/log';
import { deleteVersionRows } from '../assets/versions';
import { pausePoint } from '../assets/pausePoints';
import { sweepEntries, type BatchOutcome } from './batchOutcome';
import { versionCandidates, type VersionCandidate, type VersionCursor } from './candidates';
import { commitBatch, getRun, lockRun, startedRun } from './runRows';
import { nextPhase, type LifecycleRunRow } from './runs';

type VersionBatch = { candidates: VersionCandidate[]; scannedThrough: string | null };

/** Removes the batch's rows and records it, if no other attempt has: in one transaction with the run's row locked. */
async function commitVersionBatch(db: Knex, run: LifecycleRunRow, batch: VersionBatch, audit: AuditWriter): Promise<BatchOutcome> {
  const { candidates } = batch;
  return db.transaction(async (trx) => {
    const locked = await lockRun(trx, run.id);
    if (locked.step !== run.step || locked.phase !== run.phase) return { phase: locked.phase, processed: 0 };
    const removed = run.dry_run
      ? candidates
      : await deleteVersionRows(
          trx,
          candidates.map((c) => c.id),
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
    if (!run.dry_run) {
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
 * One batch of version expiry. Objects go first, then rows with the counts (a crash between leaves
 * rows whose objects are gone, which the next attempt or run picks again: never an object without
 * its row). `retireVersions` removes the versions' objects from the bucket (marked and handed to
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
  if (!run.dry_run && batch.candidates.length) await retireVersions(batch.candidates);
  return commitVersionBatch(db, run, batch, audit);
}
