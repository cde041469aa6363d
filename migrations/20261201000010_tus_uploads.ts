import type { Knex } from 'knex';

/**
 * tus uploads: a kind of upload session, and what the tus protocol needs beside it. The offset and
 * the parts sent live here, not in an API process, so any replica can take the next PATCH.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_kind_check;
    ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_kind_check CHECK (kind IN ('simple', 'chunked', 'copy', 'fetch', 'tus'));
    CREATE TABLE tus_uploads (
      upload_id       uuid PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
      -- Bytes stored so far: always the end of the last part recorded.
      offset_bytes    bigint NOT NULL DEFAULT 0 CHECK (offset_bytes >= 0),
      part_count      integer NOT NULL DEFAULT 0 CHECK (part_count >= 0),
      -- The Upload-Metadata header as the client sent it: HEAD answers it back.
      upload_metadata text,
      -- The SHA-256 of the bytes up to offset_bytes, as a hash-wasm state saved at the end of the
      -- last part: the next PATCH, on any API process, goes on hashing from it. NULL once a part's
      -- bytes could not be confirmed as the store's (the finish then reads the object back).
      sha256_state    bytea,
      sha256_streamed boolean NOT NULL DEFAULT true
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE tus_uploads;
    DELETE FROM upload_sessions WHERE kind = 'tus';
    ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_kind_check;
    ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_kind_check CHECK (kind IN ('simple', 'chunked', 'copy', 'fetch'));
  `);
}
