import type { Knex } from 'knex';

/**
 * Issue 28, restore drills: one row per drill (a sample of a backup's assets restored into a scratch
 * prefix and checked byte for byte), and on each backup when a drill last proved it restorable.
 * `sample` is the drill's chosen assets (bounded by STORAGE_RESTORE_DRILL_SAMPLE_ASSETS), `next_index`
 * how far its checks have come, so a retried step resumes there.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE restore_drills (
      id uuid PRIMARY KEY,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'passed', 'failed')),
      backup_id uuid REFERENCES backup_jobs (id) ON DELETE SET NULL,
      trigger text NOT NULL CHECK (trigger IN ('api', 'schedule')),
      actor jsonb,
      workflow_id text NOT NULL,
      sample jsonb,
      next_index integer NOT NULL DEFAULT 0,
      assets_total integer NOT NULL DEFAULT 0,
      assets_checked integer NOT NULL DEFAULT 0,
      bytes_checked bigint NOT NULL DEFAULT 0,
      failures jsonb NOT NULL DEFAULT '[]',
      error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      completed_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  await knex.raw(`CREATE INDEX restore_drills_completed_idx ON restore_drills (completed_at) WHERE completed_at IS NOT NULL`);
  await knex.raw(`ALTER TABLE backup_jobs ADD COLUMN verified_restore_at timestamptz, ADD COLUMN verified_by_drill uuid`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE backup_jobs DROP COLUMN IF EXISTS verified_restore_at, DROP COLUMN IF EXISTS verified_by_drill`);
  await knex.raw(`DROP TABLE IF EXISTS restore_drills`);
}
