import type { Knex } from 'knex';

/**
 * Per-owner quotas (issue 14). `owner_usage` holds what each owner stores and what their open upload
 * sessions have reserved. Triggers keep it, in the transaction of every change to a version, an asset
 * or a session, whichever code makes it (uploads, pruning, sweeps, deletions, backup restores): the
 * figures stay exact, and the row lock the trigger takes serialises one owner's concurrent uploads,
 * so a check made after it (lib/quotas/) sees every other upload of theirs. A soft-deleted asset
 * still counts: its versions are stored until it is purged.
 *
 * A session reserves for `quota_owner_id` (the owner of the asset its version joins, or of the asset
 * it makes) while it is open or completing: `reserved_bytes`, and one asset if it makes one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE owner_usage (
      owner_id         text PRIMARY KEY,
      bytes_stored     bigint NOT NULL DEFAULT 0 CHECK (bytes_stored >= 0),
      assets           integer NOT NULL DEFAULT 0 CHECK (assets >= 0),
      versions         integer NOT NULL DEFAULT 0 CHECK (versions >= 0),
      reserved_bytes   bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0),
      reserved_assets  integer NOT NULL DEFAULT 0 CHECK (reserved_assets >= 0)
    );
    -- The metrics' top owners by bytes stored.
    CREATE INDEX owner_usage_bytes_idx ON owner_usage (bytes_stored DESC, owner_id);

    -- An admin's override of STORAGE_QUOTA_*_PER_OWNER for one owner; NULL keeps the default.
    CREATE TABLE owner_quotas (
      owner_id    text PRIMARY KEY,
      max_bytes   bigint CHECK (max_bytes >= 0),
      max_assets  bigint CHECK (max_assets >= 0),
      updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TRIGGER owner_quotas_touch BEFORE UPDATE ON owner_quotas
      FOR EACH ROW EXECUTE FUNCTION storage_touch_updated_at();

    -- Sessions opened before quotas reserve nothing (NULL owner): their commit charges the bytes all the same.
    ALTER TABLE upload_sessions
      ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0),
      ADD COLUMN quota_owner_id text;

    CREATE FUNCTION storage_usage_add(owner text, d_bytes bigint, d_assets integer, d_versions integer, d_reserved bigint, d_reserved_assets integer)
      RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF owner IS NULL OR (d_bytes = 0 AND d_assets = 0 AND d_versions = 0 AND d_reserved = 0 AND d_reserved_assets = 0) THEN
        RETURN;
      END IF;
      UPDATE owner_usage SET
          bytes_stored = bytes_stored + d_bytes,
          assets = assets + d_assets,
          versions = versions + d_versions,
          reserved_bytes = reserved_bytes + d_reserved,
          reserved_assets = reserved_assets + d_reserved_assets
        WHERE owner_id = owner;
      IF FOUND THEN
        RETURN;
      END IF;
      -- An owner's first change only adds (CHECK refuses a negative row even where the insert would conflict).
      INSERT INTO owner_usage AS u (owner_id, bytes_stored, assets, versions, reserved_bytes, reserved_assets)
        VALUES (owner, d_bytes, d_assets, d_versions, d_reserved, d_reserved_assets)
        ON CONFLICT (owner_id) DO UPDATE SET
          bytes_stored = u.bytes_stored + EXCLUDED.bytes_stored,
          assets = u.assets + EXCLUDED.assets,
          versions = u.versions + EXCLUDED.versions,
          reserved_bytes = u.reserved_bytes + EXCLUDED.reserved_bytes,
          reserved_assets = u.reserved_assets + EXCLUDED.reserved_assets;
    END $$;

    -- A version counts for its asset's owner. Its asset's deletion has already taken it off
    -- (assets_usage): a cascaded delete no longer finds the asset and changes nothing.
    CREATE FUNCTION storage_versions_usage() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      owner text;
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT a.owner_id INTO owner FROM assets a WHERE a.id = OLD.asset_id;
        PERFORM storage_usage_add(owner, -OLD.size_bytes, 0, -1, 0, 0);
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT a.owner_id INTO owner FROM assets a WHERE a.id = NEW.asset_id;
        PERFORM storage_usage_add(owner, NEW.size_bytes, 0, 1, 0, 0);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER asset_versions_usage AFTER INSERT OR DELETE OR UPDATE OF asset_id, size_bytes ON asset_versions
      FOR EACH ROW EXECUTE FUNCTION storage_versions_usage();

    -- An asset counts once inserted (AFTER: an insert skipped by ON CONFLICT counts nothing). Its
    -- deletion and a change of owner are counted before they happen, while its versions are there to sum.
    CREATE FUNCTION storage_assets_usage() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      bytes bigint;
      n integer;
    BEGIN
      IF TG_OP = 'INSERT' THEN
        PERFORM storage_usage_add(NEW.owner_id, 0, 1, 0, 0, 0);
        RETURN NULL;
      END IF;
      IF TG_OP = 'UPDATE' AND OLD.owner_id = NEW.owner_id THEN
        RETURN NEW;
      END IF;
      SELECT COALESCE(sum(v.size_bytes), 0), count(*) INTO bytes, n FROM asset_versions v WHERE v.asset_id = OLD.id;
      PERFORM storage_usage_add(OLD.owner_id, -bytes, -1, -n, 0, 0);
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      PERFORM storage_usage_add(NEW.owner_id, bytes, 1, n, 0, 0);
      RETURN NEW;
    END $$;
    CREATE TRIGGER assets_usage_insert AFTER INSERT ON assets
      FOR EACH ROW EXECUTE FUNCTION storage_assets_usage();
    CREATE TRIGGER assets_usage_change BEFORE DELETE OR UPDATE OF owner_id ON assets
      FOR EACH ROW EXECUTE FUNCTION storage_assets_usage();

    -- What a session holds, before and after the change; one owner's row is touched once.
    CREATE FUNCTION storage_sessions_usage() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      old_owner text;
      old_bytes bigint := 0;
      old_assets integer := 0;
      new_owner text;
      new_bytes bigint := 0;
      new_assets integer := 0;
    BEGIN
      IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status IN ('open', 'completing') THEN
        old_owner := OLD.quota_owner_id;
        old_bytes := OLD.reserved_bytes;
        old_assets := CASE WHEN OLD.asset_id IS NULL THEN 1 ELSE 0 END;
      END IF;
      IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status IN ('open', 'completing') THEN
        new_owner := NEW.quota_owner_id;
        new_bytes := NEW.reserved_bytes;
        new_assets := CASE WHEN NEW.asset_id IS NULL THEN 1 ELSE 0 END;
      END IF;
      IF old_owner IS NOT DISTINCT FROM new_owner THEN
        PERFORM storage_usage_add(new_owner, 0, 0, 0, new_bytes - old_bytes, new_assets - old_assets);
      ELSE
        PERFORM storage_usage_add(old_owner, 0, 0, 0, -old_bytes, -old_assets);
        PERFORM storage_usage_add(new_owner, 0, 0, 0, new_bytes, new_assets);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER upload_sessions_usage AFTER INSERT OR DELETE OR UPDATE OF status, reserved_bytes, quota_owner_id, asset_id ON upload_sessions
      FOR EACH ROW EXECUTE FUNCTION storage_sessions_usage();
  `);

  // What the catalog already holds; sessions opened before this reserved nothing.
  await knex.raw(`
    INSERT INTO owner_usage (owner_id, bytes_stored, assets, versions)
    SELECT a.owner_id, COALESCE(sum(v.bytes), 0), count(*), COALESCE(sum(v.n), 0)
      FROM assets a
      LEFT JOIN (SELECT asset_id, sum(size_bytes) AS bytes, count(*) AS n FROM asset_versions GROUP BY asset_id) v ON v.asset_id = a.id
     GROUP BY a.owner_id
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER upload_sessions_usage ON upload_sessions;
    DROP TRIGGER assets_usage_change ON assets;
    DROP TRIGGER assets_usage_insert ON assets;
    DROP TRIGGER asset_versions_usage ON asset_versions;
    DROP FUNCTION storage_sessions_usage();
    DROP FUNCTION storage_assets_usage();
    DROP FUNCTION storage_versions_usage();
    DROP FUNCTION storage_usage_add(text, bigint, integer, integer, bigint, integer);
    ALTER TABLE upload_sessions DROP COLUMN quota_owner_id, DROP COLUMN reserved_bytes;
    DROP TABLE owner_quotas;
    DROP TABLE owner_usage;
  `);
}
