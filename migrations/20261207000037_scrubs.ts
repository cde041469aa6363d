import type { Knex } from 'knex';

/**
 * Issue 28: the scrub (lib/scrub/store.ts). One row per scrub run, holding its phase and cursor so a
 * run resumes after a crash, and one per finding of a run; and on asset_versions when a version's object was last re-read and hashed
 * (`verified_at`: the scrub samples the oldest first, nulls first) and whether its bytes are known
 * damaged (`damaged_at`, `damage`: its content routes then answer a problem, not wrong bytes).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE scrubs (
      id uuid PRIMARY KEY,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'completed', 'failed')),
      dry_run boolean NOT NULL,
      sample_percent numeric(6,3) NOT NULL CHECK (sample_percent > 0 AND sample_percent <= 100),
      trigger text NOT NULL CHECK (trigger IN ('api', 'schedule')),
      actor jsonb,
      workflow_id text NOT NULL,
      phase text NOT NULL DEFAULT 'objects',
      cursor jsonb,
      counts jsonb NOT NULL DEFAULT '{}'::jsonb,
      repaired integer NOT NULL DEFAULT 0,
      unrepairable integer NOT NULL DEFAULT 0,
      bytes_hashed bigint NOT NULL DEFAULT 0,
      objects_listed bigint NOT NULL DEFAULT 0,
      error text,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      completed_at timestamptz
    )`);
  // One row per thing a scrub found: its counts are counted from here, so a step retried after a crash
  // (which reads again what the lost attempt read) counts each finding once.
  await knex.raw(`
    CREATE TABLE scrub_findings (
      scrub_id uuid NOT NULL REFERENCES scrubs(id) ON DELETE CASCADE,
      kind text NOT NULL,
      subject text NOT NULL,
      outcome text CHECK (outcome IN ('repaired', 'unrepairable')),
      detail text,
      at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (scrub_id, kind, subject)
    )`);
  await knex.raw(`CREATE INDEX scrubs_ended_idx ON scrubs (completed_at) WHERE status IN ('completed', 'failed')`);
  await knex.raw(`ALTER TABLE asset_versions ADD COLUMN verified_at timestamptz, ADD COLUMN damaged_at timestamptz, ADD COLUMN damage text`);
  await knex.raw(`CREATE INDEX asset_versions_object_key_c_idx ON asset_versions (object_key COLLATE "C")`);
  // The sample's order: verified longest ago first, never verified before all (lib/scrub/store.ts versionsToVerify).
  await knex.raw(`CREATE INDEX asset_versions_verified_idx ON asset_versions ((coalesce(verified_at, '-infinity'::timestamptz)), id)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS asset_versions_verified_idx`);
  await knex.raw(`DROP INDEX IF EXISTS asset_versions_object_key_c_idx`);
  await knex.raw(`ALTER TABLE asset_versions DROP COLUMN IF EXISTS verified_at, DROP COLUMN IF EXISTS damaged_at, DROP COLUMN IF EXISTS damage`);
  await knex.raw(`DROP TABLE IF EXISTS scrub_findings`);
  await knex.raw(`DROP TABLE IF EXISTS scrubs`);
}
