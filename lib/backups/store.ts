/**
 * The store of backups and restores: the only code that runs SQL against backup_jobs, restore_items, backup_handoffs, backup_retention_sweeps, backup_sweep_manifests and backup_sweep_marks.
 */
export {};

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

import type { Knex } from 'knex';

/** Backup and restore jobs by kind and status (the metrics' figures). */
export async function countJobsByKindAndStatus(db: Knex): Promise<Array<{ kind: string; status: string; n: number }>> {
  return db('backup_jobs').select('kind', 'status', db.raw('count(*)::int AS n')).groupBy('kind', 'status');
}

// ---- used by table retention (new, lib/lifecycle/tableRetention.ts) ----

/** Restores that ended (completed or failed) before `before`, over the alias `r`. */
function endedRestoresBefore(db: Knex, before: Date) {
  return db('backup_jobs as r')
    .where('r.kind', 'restore')
    .whereIn('r.status', ['completed', 'failed'])
    .whereRaw('coalesce(r.completed_at, r.updated_at) < ?', [before]);
}

/** Deletes up to `limit` item rows of restores that ended before `before`; answers how many. */
export async function deleteItemsOfEndedRestoresBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const items = db('restore_items as i')
    .select('i.restore_id', 'i.asset_id')
    .whereIn('i.restore_id', endedRestoresBefore(db, before).select('r.id'))
    .limit(limit);
  return db('restore_items').whereIn(['restore_id', 'asset_id'], items).delete();
}

/** Deletes up to `limit` restores that ended before `before` and have no item rows left; answers how many. */
export async function deleteEndedRestoresBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const restores = endedRestoresBefore(db, before)
    .select('r.id')
    .whereNotExists(db('restore_items as i').whereRaw('i.restore_id = r.id'))
    .orderBy('r.id')
    .limit(limit);
  return db('backup_jobs').whereIn('id', restores).delete();
}

/**
 * Deletes up to `limit` backups removed (their manifest deleted by the retention sweep) before `before`
 * that no restore row names (a kept restore keeps its backup's row); answers how many.
 */
export async function deleteRemovedBackupsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const backups = db('backup_jobs as b')
    .select('b.id')
    .where('b.kind', 'backup')
    .where('b.removed_at', '<', before)
    .whereNotExists(db('backup_jobs as r').whereRaw('r.backup_id = b.id'))
    .orderBy('b.id')
    .limit(limit);
  return db('backup_jobs').whereIn('id', backups).delete();
}
