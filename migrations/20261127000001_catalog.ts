import type { Knex } from 'knex';

/**
 * The catalog. Each index names the query it serves; the list filters are those of the OpenAPI document
 * (GET /api/v2/assets) and the lifecycle sweeps of docs/architecture.md.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION storage_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := now();
      RETURN NEW;
    END $$;
  `);

  await knex.raw(`
    CREATE TABLE assets (
      id                  uuid PRIMARY KEY,
      name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 1024),
      content_type        text NOT NULL,
      size_bytes          bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
      checksum_sha256     char(64) CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
      current_version_id  uuid,
      version_count       integer NOT NULL DEFAULT 0 CHECK (version_count >= 0),
      -- Version numbers come from this counter, bumped under the asset's row lock in the same
      -- transaction that inserts the version: no gap, no duplicate, whatever the concurrency.
      last_version_number integer NOT NULL DEFAULT 0 CHECK (last_version_number >= 0),
      -- Bumped on every change of the asset's fields; the ETag that If-Match compares.
      revision            integer NOT NULL DEFAULT 1,
      tags                text[] NOT NULL DEFAULT '{}',
      is_deleted          boolean NOT NULL DEFAULT false,
      deleted_at          timestamptz,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      CHECK (is_deleted = (deleted_at IS NOT NULL))
    );

    CREATE TABLE asset_versions (
      id               uuid PRIMARY KEY,
      asset_id         uuid NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
      version_number   integer NOT NULL CHECK (version_number >= 1),
      object_key       text NOT NULL UNIQUE,
      size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
      content_type     text NOT NULL,
      checksum_sha256  char(64) NOT NULL CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
      -- The upload that produced this version: committing the same upload twice finds this row.
      upload_id        uuid UNIQUE,
      created_at       timestamptz NOT NULL DEFAULT now(),
      -- When this version stopped being current (NULL while current); lifecycle ages from here.
      superseded_at    timestamptz,
      UNIQUE (asset_id, version_number)
    );

    ALTER TABLE assets
      ADD CONSTRAINT assets_current_version_fk
      FOREIGN KEY (current_version_id) REFERENCES asset_versions(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

    CREATE TABLE asset_metadata (
      asset_id  uuid NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
      key       text NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
      value     text NOT NULL,
      PRIMARY KEY (asset_id, key)
    );

    CREATE TRIGGER assets_touch BEFORE UPDATE ON assets
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
  `);

  await knex.raw(`
    -- GET /assets default sort (-created_at) and created_after/created_before, keyset cursor (created_at, id).
    CREATE INDEX assets_live_created_idx ON assets (created_at DESC, id DESC) WHERE NOT is_deleted;
    -- The same with include_deleted=true.
    CREATE INDEX assets_created_idx ON assets (created_at DESC, id DESC);
    -- sort=name with its cursor (name, id), and name_prefix (text_pattern_ops serves LIKE 'prefix%').
    CREATE INDEX assets_name_idx ON assets (name, id);
    CREATE INDEX assets_name_prefix_idx ON assets (name text_pattern_ops);
    -- content_type filter, exact or 'type/*' (a prefix match).
    CREATE INDEX assets_content_type_idx ON assets (content_type text_pattern_ops);
    -- tag filter (all must match: tags @> ARRAY[...]).
    CREATE INDEX assets_tags_idx ON assets USING gin (tags);
    -- lifecycle expire_assets: live assets not updated for N days.
    CREATE INDEX assets_live_updated_idx ON assets (updated_at) WHERE NOT is_deleted;
    -- lifecycle purge_deleted: assets soft-deleted N days ago.
    CREATE INDEX assets_deleted_at_idx ON assets (deleted_at) WHERE is_deleted;
    -- lifecycle expire_noncurrent_versions and STORAGE_VERSION_RETENTION_DAYS: noncurrent versions by age.
    CREATE INDEX asset_versions_superseded_idx ON asset_versions (superseded_at) WHERE superseded_at IS NOT NULL;
    -- (asset_id, version_number) UNIQUE above also serves GET /assets/{id}/versions, newest first,
    -- keep_latest and STORAGE_MAX_VERSIONS pruning.
  `);

  await knex.raw(`
    CREATE TABLE upload_sessions (
      id               uuid PRIMARY KEY,
      kind             text NOT NULL CHECK (kind IN ('simple', 'chunked', 'copy')),
      status           text NOT NULL CHECK (status IN ('open', 'completing', 'completed', 'failed', 'aborted', 'expired')),
      -- Set when the upload is a new version of an existing asset.
      asset_id         uuid REFERENCES assets(id) ON DELETE CASCADE,
      name             text NOT NULL,
      content_type     text NOT NULL,
      size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
      checksum_sha256  char(64) CHECK (checksum_sha256 ~ '^[0-9a-f]{64}$'),
      part_size_bytes  bigint,
      part_count       integer,
      -- NULL for a new version: keep the asset's metadata / tags.
      metadata         jsonb,
      tags             text[],
      object_key       text NOT NULL,
      s3_upload_id     text,
      result_asset_id  uuid,
      version_id       uuid,
      workflow_id      text NOT NULL,
      error            text,
      expires_at       timestamptz,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE TRIGGER upload_sessions_touch BEFORE UPDATE ON upload_sessions
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
    -- lifecycle abort_incomplete_uploads: open sessions created N days ago.
    CREATE INDEX upload_sessions_open_idx ON upload_sessions (created_at) WHERE status = 'open';

    CREATE TABLE upload_parts (
      upload_id        uuid NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
      part_number      integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
      size_bytes       bigint NOT NULL CHECK (size_bytes >= 0),
      checksum_sha256  char(64),
      etag             text NOT NULL,
      updated_at       timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (upload_id, part_number)
    );
  `);

  await knex.raw(`
    CREATE TABLE lifecycle_policies (
      id           uuid PRIMARY KEY,
      name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
      description  text NOT NULL DEFAULT '',
      enabled      boolean NOT NULL DEFAULT true,
      filter       jsonb NOT NULL DEFAULT '{}',
      is_deleted   boolean NOT NULL DEFAULT false,
      deleted_at   timestamptz,
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE TRIGGER lifecycle_policies_touch BEFORE UPDATE ON lifecycle_policies
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
    -- A name is unique among live policies; a soft-deleted policy frees its name.
    CREATE UNIQUE INDEX lifecycle_policies_live_name_idx ON lifecycle_policies (name) WHERE NOT is_deleted;

    CREATE TABLE policy_rules (
      id           uuid PRIMARY KEY,
      policy_id    uuid NOT NULL REFERENCES lifecycle_policies(id) ON DELETE CASCADE,
      position     integer NOT NULL,
      action       text NOT NULL CHECK (action IN ('expire_noncurrent_versions', 'expire_assets', 'purge_deleted', 'abort_incomplete_uploads')),
      days         integer NOT NULL CHECK (days >= 1),
      keep_latest  integer CHECK (keep_latest >= 0),
      UNIQUE (policy_id, position)
    );
  `);

  await knex.raw(`
    CREATE TABLE backup_jobs (
      id            uuid PRIMARY KEY,
      kind          text NOT NULL CHECK (kind IN ('backup', 'restore')),
      status        text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
      label         text,
      -- For a restore: the backup it reads.
      backup_id     uuid REFERENCES backup_jobs(id) ON DELETE CASCADE,
      scope         jsonb NOT NULL DEFAULT '{}',
      mode          text CHECK (mode IN ('missing', 'overwrite')),
      progress      jsonb NOT NULL DEFAULT '{}',
      manifest_key  text,
      workflow_id   text NOT NULL,
      error         text,
      created_at    timestamptz NOT NULL DEFAULT now(),
      started_at    timestamptz,
      completed_at  timestamptz,
      expires_at    timestamptz,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      CHECK ((kind = 'restore') = (backup_id IS NOT NULL))
    );
    CREATE TRIGGER backup_jobs_touch BEFORE UPDATE ON backup_jobs
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();
    -- GET /backups, newest first, by kind.
    CREATE INDEX backup_jobs_kind_created_idx ON backup_jobs (kind, created_at DESC, id DESC);
    -- Retention: completed backups past expires_at.
    CREATE INDEX backup_jobs_expires_idx ON backup_jobs (expires_at) WHERE kind = 'backup' AND status = 'completed';
  `);

  await knex.raw(`
    CREATE TABLE outbox_events (
      sequence         bigserial PRIMARY KEY,
      id               uuid NOT NULL UNIQUE,
      type             text NOT NULL,
      source           text NOT NULL,
      subject          text NOT NULL,
      time             timestamptz NOT NULL DEFAULT now(),
      data             jsonb NOT NULL,
      -- The writing transaction: the feed serves only events below the oldest running
      -- transaction, so a cursor never passes an event that commits late.
      txid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
      delivered_at     timestamptz,
      attempts         integer NOT NULL DEFAULT 0,
      last_error       text,
      next_attempt_at  timestamptz NOT NULL DEFAULT now()
    );
    -- The relay: pending events in order.
    CREATE INDEX outbox_events_pending_idx ON outbox_events (sequence) WHERE delivered_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS outbox_events;
    DROP TABLE IF EXISTS backup_jobs;
    DROP TABLE IF EXISTS policy_rules;
    DROP TABLE IF EXISTS lifecycle_policies;
    DROP TABLE IF EXISTS upload_parts;
    DROP TABLE IF EXISTS upload_sessions;
    DROP TABLE IF EXISTS asset_metadata;
    ALTER TABLE IF EXISTS assets DROP CONSTRAINT IF EXISTS assets_current_version_fk;
    DROP TABLE IF EXISTS asset_versions;
    DROP TABLE IF EXISTS assets;
    DROP FUNCTION IF EXISTS storage_touch_updated_at();
  `);
}
