import type { Knex } from 'knex';

/**
 * Who uploaded a version: `uploaded_by`, the subject (`sub`) of the caller whose upload made it, which
 * the version object answers and the console's versions list shows. Existing versions take it from
 * the upload session that made them (its actor's sub, else the session's owner); NULL where that
 * session is gone (or never recorded either): not known.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE asset_versions ADD COLUMN uploaded_by text`);
  await knex.raw(`
    UPDATE asset_versions v
       SET uploaded_by = COALESCE(s.actor->>'sub', s.owner_id)
      FROM upload_sessions s
     WHERE s.id = v.upload_id AND v.uploaded_by IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE asset_versions DROP COLUMN IF EXISTS uploaded_by`);
}
