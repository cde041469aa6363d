import type { Knex } from 'knex';

/**
 * The store's ETag of each part a tus upload recorded, in order: the finish confirms the assembled
 * object is made of exactly those parts before it trusts the hash streamed through the API (a part
 * written again after it was recorded, by a PATCH that outlived its lock, would otherwise be
 * committed under the other bytes' checksum).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE tus_uploads ADD COLUMN part_etags text[] NOT NULL DEFAULT '{}'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE tus_uploads DROP COLUMN part_etags');
}
