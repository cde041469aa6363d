import type { Knex } from 'knex';

/**
 * Backups and restores (docs/architecture.md): what backup_jobs needs beyond the catalog's first
 * cut, the per-asset outcome of each restore, and the mark tables of the retention sweep. Each index
 * names its query.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE backup_jobs
      -- Who asked: the API (or an event), or the storage-backup schedule.
      ADD COLUMN trigger              text NOT NULL DEFAULT 'api' CHECK (trigger IN ('api', 'schedule')),
      -- The manifest as written: its SHA-256 and size (the summary object repeats them), the byte
      -- offset of its first blob line (where the copy phase reads from), and when it was registered
      -- (from then on the retention sweep must keep every blob it names).
      ADD COLUMN manifest_sha256      char(64) CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
      ADD COLUMN manifest_size_bytes  bigint,
      ADD COLUMN blobs_offset         bigint,
      ADD COLUMN manifest_written_at  timestamptz,
      -- Counts of the snapshot: { assets, versions, blobs, bytes, version_bytes }.
      ADD COLUMN counts               jsonb,
      -- Set by the retention sweep: the backup can no longer be restored; its manifest is deleted.
      ADD COLUMN removed_at           timestamptz;

    -- Retention: completed or failed backups past expires_at that are not removed yet. Replaces the
    -- catalog's index, which knew only completed backups.
    DROP INDEX backup_jobs_expires_idx;
    CREATE INDEX backup_jobs_expiry_idx ON backup_jobs (expires_at)
      WHERE kind = 'backup' AND removed_at IS NULL AND status IN ('completed', 'failed');
    -- Restores of a backup (retention keeps a backup a restore is reading; GET /restores by backup).
    CREATE INDEX backup_jobs_backup_restores_idx ON backup_jobs (backup_id, created_at DESC) WHERE kind = 'restore';

    -- One row per asset a restore has dealt with, written in the transaction that restores the
    -- asset's rows: a retried batch finds the asset done and neither restores nor counts it twice.
    CREATE TABLE restore_items (
      restore_id     uuid NOT NULL REFERENCES backup_jobs(id) ON DELETE CASCADE,
      asset_id       uuid NOT NULL,
      status         text NOT NULL CHECK (status IN ('restored', 'skipped', 'failed')),
      error          text,
      versions       integer NOT NULL DEFAULT 0,
      objects_copied integer NOT NULL DEFAULT 0,
      bytes_done     bigint NOT NULL DEFAULT 0,
      bytes_copied   bigint NOT NULL DEFAULT 0,
      created_at     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (restore_id, asset_id)
    );

    -- Retention sweeps: the manifests a sweep has read (marked) and the blobs they name. A blob is
    -- deleted only if it is not among the marks, checked under the lock that manifest registration
    -- also takes (lib/backups/retention.ts). Logged tables: marks lost in a crash would delete blobs.
    CREATE TABLE backup_sweep_manifests (
      sweep_id   uuid NOT NULL,
      backup_id  uuid NOT NULL,
      PRIMARY KEY (sweep_id, backup_id)
    );
    CREATE TABLE backup_sweep_marks (
      sweep_id  uuid NOT NULL,
      sha256    char(64) NOT NULL,
      PRIMARY KEY (sweep_id, sha256)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS backup_sweep_marks;
    DROP TABLE IF EXISTS backup_sweep_manifests;
    DROP TABLE IF EXISTS restore_items;
    DROP INDEX IF EXISTS backup_jobs_backup_restores_idx;
    DROP INDEX IF EXISTS backup_jobs_expiry_idx;
    CREATE INDEX backup_jobs_expires_idx ON backup_jobs (expires_at) WHERE kind = 'backup' AND status = 'completed';
    ALTER TABLE backup_jobs
      DROP COLUMN IF EXISTS removed_at,
      DROP COLUMN IF EXISTS counts,
      DROP COLUMN IF EXISTS manifest_written_at,
      DROP COLUMN IF EXISTS blobs_offset,
      DROP COLUMN IF EXISTS manifest_size_bytes,
      DROP COLUMN IF EXISTS manifest_sha256,
      DROP COLUMN IF EXISTS trigger;
  `);
}
