import type { Knex } from 'knex';

/**
 * Recovery from the backup bucket alone (issue 24, docs/recovery.md): where a manifest's sections
 * begin, backups registered from the bucket by an import, and each retention sweep's outcome (a
 * refused sweep is shown by /health until a later one runs).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE backup_jobs
      -- Byte offsets of the manifest's asset lines and of its record lines (policies, quotas, history,
      -- audit log); NULL for manifests written before records existed (their records section is empty).
      ADD COLUMN assets_offset   bigint,
      ADD COLUMN records_offset  bigint,
      -- Set when POST /backups/import registered the backup from its manifest and summary.
      ADD COLUMN imported_at     timestamptz;

    CREATE TABLE backup_retention_sweeps (
      sweep_id         uuid PRIMARY KEY,
      status           text NOT NULL CHECK (status IN ('running', 'completed', 'refused', 'failed')),
      -- Why it refused (or failed).
      reason           text,
      -- Backups whose manifest is in the bucket but not in the catalog: kept, and named here (the first 100).
      unknown_backups  uuid[] NOT NULL DEFAULT '{}',
      counts           jsonb,
      started_at       timestamptz NOT NULL DEFAULT now(),
      finished_at      timestamptz
    );
    -- /health: the latest finished sweep.
    CREATE INDEX backup_retention_sweeps_finished_idx ON backup_retention_sweeps (finished_at DESC) WHERE finished_at IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS backup_retention_sweeps;
    ALTER TABLE backup_jobs
      DROP COLUMN IF EXISTS imported_at,
      DROP COLUMN IF EXISTS records_offset,
      DROP COLUMN IF EXISTS assets_offset;
  `);
}
