import type { Knex } from 'knex';

/**
 * Issue 26. A lifecycle purge whose deletion ran out of its retries is counted on its run
 * (`purges_failed`) instead of failing the run. And an open session that shows no progress for STORAGE_UPLOAD_STALL_SECONDS is ended by its run
 * (workflows/uploads/workflow.ts) instead of waiting out its expiry. `last_progress_at` is when its
 * client last showed it was still sending: the session's open, a reservation grown while a body
 * streams, the API's touch while it streams (at most every few seconds), a part or a tus PATCH stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE upload_sessions ADD COLUMN last_progress_at timestamptz NOT NULL DEFAULT now();
    ALTER TABLE lifecycle_runs ADD COLUMN purges_failed bigint NOT NULL DEFAULT 0;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE lifecycle_runs DROP COLUMN IF EXISTS purges_failed;
    ALTER TABLE upload_sessions DROP COLUMN IF EXISTS last_progress_at;
  `);
}
