import type { Knex } from 'knex';

/**
 * Who may do what (issue 13): every asset has an owner (assets made before owners existed belong to
 * the system, which admins and services act for), and may be shared with users or groups, to read or
 * to write. A session records who it is for: the owner of the asset it makes, or whoever opened a new
 * version's session.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE assets ADD COLUMN owner_id text NOT NULL DEFAULT 'system';
    -- GET /assets for a user: the assets they own.
    CREATE INDEX assets_owner_idx ON assets (owner_id);

    CREATE TABLE asset_grants (
      asset_id  uuid NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
      -- 'user:<sub>' or 'group:<name>'.
      subject   text NOT NULL CHECK (subject ~ '^(user|group):.'),
      access    text NOT NULL CHECK (access IN ('read', 'write')),
      PRIMARY KEY (asset_id, subject)
    );
    -- GET /assets for a user: the assets granted to them or to one of their groups.
    CREATE INDEX asset_grants_subject_idx ON asset_grants (subject);

    ALTER TABLE upload_sessions ADD COLUMN owner_id text;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE upload_sessions DROP COLUMN owner_id;
    DROP TABLE asset_grants;
    ALTER TABLE assets DROP COLUMN owner_id;
  `);
}
