import type { Knex } from 'knex';

/** A completed session records the number its version got: its answer stands even once the version is pruned. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE upload_sessions ADD COLUMN version_number integer');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE upload_sessions DROP COLUMN version_number');
}
