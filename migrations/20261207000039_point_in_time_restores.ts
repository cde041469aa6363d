import type { Knex } from 'knex';

/**
 * Issue 28: restores to a point in time (POST /api/v2/restores). Such a restore is a backup_jobs row of
 * kind 'restore' and mode 'point_in_time' that reads no one backup (backup_id NULL; its scope holds
 * `as_of` and the filter); each asset it deals with is one restore_items row, as for a backup's
 * restore, which also says where the asset's bytes came from: `source` (version, backup, unchanged,
 * skipped), the version or backup, the SHA-256 written (or, in a dry run, that would be), and the
 * version made. A dry run's items that would write are `planned`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE backup_jobs
      DROP CONSTRAINT backup_jobs_check,
      DROP CONSTRAINT backup_jobs_mode_check,
      ADD CONSTRAINT backup_jobs_mode_check CHECK (mode IN ('missing', 'overwrite', 'point_in_time')),
      -- A backup's restore names its backup; a point-in-time restore reads whichever backups reach back.
      ADD CONSTRAINT backup_jobs_restore_backup_check CHECK (
        CASE WHEN kind = 'restore' THEN (backup_id IS NOT NULL) = (mode IS DISTINCT FROM 'point_in_time') ELSE backup_id IS NULL END
      );

    ALTER TABLE restore_items
      DROP CONSTRAINT restore_items_status_check,
      ADD CONSTRAINT restore_items_status_check CHECK (status IN ('restored', 'skipped', 'failed', 'planned')),
      ADD COLUMN source            text CHECK (source IN ('version', 'backup', 'unchanged', 'skipped')),
      ADD COLUMN source_version_id uuid,
      ADD COLUMN source_backup_id  uuid,
      ADD COLUMN sha256            char(64) CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      ADD COLUMN version_id        uuid,
      ADD COLUMN undeleted         boolean NOT NULL DEFAULT false;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM backup_jobs WHERE mode = 'point_in_time';
    DELETE FROM restore_items WHERE status = 'planned';
    ALTER TABLE restore_items
      DROP COLUMN undeleted,
      DROP COLUMN version_id,
      DROP COLUMN sha256,
      DROP COLUMN source_backup_id,
      DROP COLUMN source_version_id,
      DROP COLUMN source,
      DROP CONSTRAINT restore_items_status_check,
      ADD CONSTRAINT restore_items_status_check CHECK (status IN ('restored', 'skipped', 'failed'));
    ALTER TABLE backup_jobs
      DROP CONSTRAINT backup_jobs_restore_backup_check,
      DROP CONSTRAINT backup_jobs_mode_check,
      ADD CONSTRAINT backup_jobs_mode_check CHECK (mode IN ('missing', 'overwrite')),
      ADD CONSTRAINT backup_jobs_check CHECK ((kind = 'restore') = (backup_id IS NOT NULL));
  `);
}
