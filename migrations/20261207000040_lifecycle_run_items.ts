import type { Knex } from 'knex';

/**
 * Issue 29: what a dry lifecycle run would remove, item by item (lib/lifecycle/runItems.ts), so that
 * GET /api/v2/lifecycle/runs/{id}/items lists it: each version it would expire, each asset it would
 * expire or purge, each upload session it would abort. `seq` is the order they were found in, the
 * list's order; a run's items go with its row (retention deletes ended runs).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE lifecycle_run_items (
      run_id uuid NOT NULL REFERENCES lifecycle_runs (id) ON DELETE CASCADE,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      action text NOT NULL CHECK (action IN ('abort_upload', 'purge_asset', 'expire_asset', 'expire_version')),
      item_id uuid NOT NULL,
      asset_id uuid,
      size_bytes bigint,
      PRIMARY KEY (run_id, seq),
      UNIQUE (run_id, action, item_id)
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS lifecycle_run_items`);
}
