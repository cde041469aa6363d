import type { Knex } from 'knex';

/**
 * The SHA-256 of a chunked session's first parts, hashed as they streamed through the API one after
 * another, so that a session whose every part came in order completes without a read-back.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE upload_stream_hashes (
      upload_id    uuid PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
      -- Parts 1..parts_hashed were hashed, in order, each confirmed by the store's ETag.
      parts_hashed integer NOT NULL CHECK (parts_hashed >= 1),
      -- The hash-wasm state at the end of part parts_hashed: the next part, on any API process, goes on from it.
      sha256_state bytea NOT NULL,
      -- The ETag of each part hashed, in order: the assembled object's ETag must be made of them.
      part_etags   text[] NOT NULL
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE upload_stream_hashes');
}
