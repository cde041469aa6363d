import type { Knex } from 'knex';

/**
 * Issue 28: a blob in the backup bucket is trusted only once its content was hashed to its address: at
 * the write that put it there, or by a scrub since. One row per content address the service has checked;
 * `damaged_at` set when the bytes there hash to something else (the next backup copies it again).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE backup_blob_checks (
      sha256 char(64) PRIMARY KEY,
      size_bytes bigint NOT NULL,
      verified_at timestamptz,
      damaged_at timestamptz,
      damage text,
      CHECK ((verified_at IS NULL) OR (damaged_at IS NULL))
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE IF EXISTS backup_blob_checks`);
}
