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
