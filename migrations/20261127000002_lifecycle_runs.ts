import type { Knex } from 'knex';

/**
 * Lifecycle sweeps (docs/architecture.md): one row per run, which is also the run's progress, and
 * the indexes the sweep's set-based queries (lib/lifecycle/sweep.ts) need. Each index names its query.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE lifecycle_runs (
      -- The workflow is lifecycle-{id}.
      id                uuid PRIMARY KEY,
      -- The one policy the run applies; NULL: every enabled policy and the global settings.
      policy_id         uuid REFERENCES lifecycle_policies(id),
      trigger           text NOT NULL CHECK (trigger IN ('api', 'schedule')),
      dry_run           boolean NOT NULL DEFAULT false,
      status            text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
      workflow_id       text NOT NULL,
      -- The sweep's "now", Temporal's clock when the run began: every age is measured from it, in
      -- every batch and across continue-as-new, so a dry run and the real run choose alike.
      as_of             timestamptz,
      -- The policies and global settings in force when the run began (what it applies).
      plan              jsonb,
      batch_size        integer NOT NULL DEFAULT 1000 CHECK (batch_size BETWEEN 1 AND 1000),
      -- Progress: the phase, the keyset position in it, and the number of batches committed. Each
      -- batch commits its changes, its counts and the next position in one transaction that checks
      -- step (compare-and-set), so a retried or repeated batch counts once.
      phase             text NOT NULL DEFAULT 'uploads' CHECK (phase IN ('uploads', 'purge', 'assets', 'versions', 'done')),
      cursor            jsonb,
      step              integer NOT NULL DEFAULT 0,
      versions_expired  bigint NOT NULL DEFAULT 0,
      assets_expired    bigint NOT NULL DEFAULT 0,
      assets_purged     bigint NOT NULL DEFAULT 0,
      uploads_aborted   bigint NOT NULL DEFAULT 0,
      bytes_freed       bigint NOT NULL DEFAULT 0,
      error             text,
      created_at        timestamptz NOT NULL DEFAULT now(),
      started_at        timestamptz,
      completed_at      timestamptz,
      updated_at        timestamptz NOT NULL DEFAULT now()
    );
    CREATE TRIGGER lifecycle_runs_touch BEFORE UPDATE ON lifecycle_runs
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
    -- (GET /lifecycle/runs lists by id, newest first: run ids are UUID v7, and the primary key serves it.)
  `);

  await knex.raw(`
    -- purge_deleted batches: soft-deleted assets by (deleted_at, id) keyset, oldest first. Replaces the
    -- catalog's (deleted_at) index, which cannot serve the keyset's row comparison.
    DROP INDEX assets_deleted_at_idx;
    CREATE INDEX assets_deleted_keyset_idx ON assets (deleted_at, id) WHERE is_deleted;
    -- expire_assets batches: live assets by (updated_at, id) keyset. Replaces assets_live_updated_idx.
    DROP INDEX assets_live_updated_idx;
    CREATE INDEX assets_live_updated_keyset_idx ON assets (updated_at, id) WHERE NOT is_deleted;
    -- abort_incomplete_uploads batches: open sessions by (created_at, id) keyset. Replaces upload_sessions_open_idx.
    DROP INDEX upload_sessions_open_idx;
    CREATE INDEX upload_sessions_open_keyset_idx ON upload_sessions (created_at, id) WHERE status = 'open';
    -- Version expiry deletes version rows in bulk; each deleted row fires the foreign key's
    -- ON DELETE SET NULL on assets.current_version_id, a scan of every asset without this index.
    CREATE INDEX assets_current_version_idx ON assets (current_version_id);
    -- purge_deleted deletes asset rows; the ON DELETE CASCADE to upload_sessions.asset_id looks the
    -- asset's sessions up here instead of scanning them all.
    CREATE INDEX upload_sessions_asset_idx ON upload_sessions (asset_id) WHERE asset_id IS NOT NULL;
    -- (expire_noncurrent_versions, STORAGE_MAX_VERSIONS, STORAGE_VERSION_RETENTION_DAYS: the ranked
    -- scan of versions per asset reads UNIQUE (asset_id, version_number) forwards, in keyset order.)
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS upload_sessions_asset_idx;
    DROP INDEX IF EXISTS assets_current_version_idx;
    DROP INDEX IF EXISTS upload_sessions_open_keyset_idx;
    CREATE INDEX upload_sessions_open_idx ON upload_sessions (created_at) WHERE status = 'open';
    DROP INDEX IF EXISTS assets_live_updated_keyset_idx;
    CREATE INDEX assets_live_updated_idx ON assets (updated_at) WHERE NOT is_deleted;
    DROP INDEX IF EXISTS assets_deleted_keyset_idx;
    CREATE INDEX assets_deleted_at_idx ON assets (deleted_at) WHERE is_deleted;
    DROP TABLE IF EXISTS lifecycle_runs;
  `);
}
