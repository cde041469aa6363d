import type { Knex } from 'knex';

/** Issue 27: GET /uploads lists a caller's sessions, newest first (ids are UUID v7), found through this index. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX upload_sessions_owner_idx ON upload_sessions (owner_id, id)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS upload_sessions_owner_idx`);
}
