import type { Knex } from 'knex';

/**
 * Backups that finish under deletions (lib/backups/handoff.ts): what is on its way out is marked, so a
 * snapshot taken from then on leaves it out; a running backup holds a lease, while which a deletion
 * first hands the contents it removes to the backup bucket; and what was handed is recorded, so the
 * retention sweep keeps it until the backup ends.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE assets ADD COLUMN purging_since timestamptz;
    ALTER TABLE asset_versions ADD COLUMN deleting_since timestamptz;
    -- Until when deletions hand their contents to this backup: renewed while it runs, cleared when it ends.
    ALTER TABLE backup_jobs ADD COLUMN handoff_until timestamptz;
    CREATE INDEX backup_jobs_handoff_idx ON backup_jobs (handoff_until) WHERE handoff_until IS NOT NULL;
    CREATE TABLE backup_handoffs (
      backup_id  uuid NOT NULL REFERENCES backup_jobs (id) ON DELETE CASCADE,
      sha256     char(64) NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (backup_id, sha256)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE backup_handoffs;
    ALTER TABLE backup_jobs DROP COLUMN handoff_until;
    ALTER TABLE asset_versions DROP COLUMN deleting_since;
    ALTER TABLE assets DROP COLUMN purging_since;
  `);
}
