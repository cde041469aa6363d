import type { Knex } from 'knex';

/**
 * Issue 23: the audit log can be neither erased nor rewritten by the service, and the service runs as a
 * role that could not do it anyway (docs/security.md, "The database roles").
 *
 * - DELETE on audit_log is refused, to every role, unless it comes from storage_prune_audit_log(): a
 *   SECURITY DEFINER function, run as the migrating role, that removes only rows older than the
 *   retention held in audit_retention (which `npm run setup` writes and the service cannot). TRUNCATE is
 *   refused outright. The owner, or a superuser, can still drop these triggers: against them the
 *   triggers are a guard against mistakes; the defence is that the service is neither.
 * - storage_app: the role whose privileges the service runs with. NOLOGIN, so that no migration holds a
 *   password: a deployment logs in as a role of its own that is a member of it. It owns nothing, and on
 *   audit_log may only read, add rows and grow a folded row (count, request_ids). Roles are the
 *   cluster's, not the database's: it is made once, whoever migrates first, and never dropped here.
 * - A folded row keeps the ids of its first 100 requests (request_ids), and may only add to them.
 */
export const APP_ROLE = 'storage_app';
const FOLDED_REQUEST_IDS = 100;

/**
 * Makes the role unless it exists; a migration making it at the same moment (another database of the
 * cluster) is not an error. A role of that name that could alter the audit log is refused.
 */
export async function createAppRole(knex: Knex, role: string = APP_ROLE): Promise<void> {
  await knex.raw(
    `DO $do$
    DECLARE
      found pg_roles%ROWTYPE;
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :role) THEN
        BEGIN
          EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION', :role);
        EXCEPTION
          WHEN duplicate_object OR unique_violation THEN NULL;
          WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'cannot create the role %: the migrating role may not create roles', :role
              USING HINT = format('Create it once as an administrator: CREATE ROLE %I NOLOGIN', :role);
        END;
      END IF;
      SELECT * INTO found FROM pg_roles WHERE rolname = :role;
      IF found.rolsuper THEN RAISE EXCEPTION 'the role % is a superuser: the service''s role must not be', :role; END IF;
      IF found.rolbypassrls THEN RAISE EXCEPTION 'the role % may bypass row security: the service''s role must not', :role; END IF;
      IF found.rolcreaterole OR found.rolcreatedb OR found.rolreplication THEN
        RAISE EXCEPTION 'the role % may create roles or databases, or replicate: the service''s role must not', :role;
      END IF;
    END
    $do$`.replace(/:role/g, quoteLiteral(role)),
  );
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export async function up(knex: Knex): Promise<void> {
  const schema = (await knex.raw('SELECT current_schema() AS name')).rows[0].name as string;
  const pinned = `SET search_path = ${quoteIdent(schema)}, pg_temp`;
  await createAppRole(knex);
  await knex.raw(`
    CREATE TABLE audit_retention (
      only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
      days     integer NOT NULL CHECK (days >= 1)
    );
    INSERT INTO audit_retention (days) VALUES (365);

    -- The only way rows leave: those older than the retention, oldest first, a bounded batch a call.
    -- (The flag is set in the body: a function's own SET of a custom setting needs a superuser.)
    CREATE FUNCTION storage_prune_audit_log(batch_size integer) RETURNS integer
      LANGUAGE plpgsql SECURITY DEFINER ${pinned} AS $$
    DECLARE
      removed integer;
    BEGIN
      PERFORM set_config('storage.audit_pruning', 'on', true);
      DELETE FROM audit_log WHERE id IN (
        SELECT id FROM audit_log
        WHERE at < now() - make_interval(days => (SELECT days FROM audit_retention))
        ORDER BY at LIMIT least(greatest(batch_size, 1), 10000));
      GET DIAGNOSTICS removed = ROW_COUNT;
      PERFORM set_config('storage.audit_pruning', 'off', true);
      RETURN removed;
    END $$;
    REVOKE ALL ON FUNCTION storage_prune_audit_log(integer) FROM PUBLIC;

    -- Inside that function the flag is set and the current role is its owner: a role that set the flag
    -- by hand is either the owner (who could drop this trigger as well) or is refused here.
    CREATE FUNCTION storage_audit_log_kept() RETURNS trigger LANGUAGE plpgsql ${pinned} AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('storage.audit_pruning', true) = 'on'
         AND current_user = (SELECT proowner::regrole::name FROM pg_proc WHERE oid = 'storage_prune_audit_log(integer)'::regprocedure) THEN
        RETURN NULL;
      END IF;
      RAISE EXCEPTION 'audit_log rows are removed only by retention (storage_prune_audit_log), never by %', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_log_kept BEFORE DELETE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION storage_audit_log_kept();
    CREATE TRIGGER audit_log_kept_whole BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION storage_audit_log_kept();

    -- A folded row names its first requests; a request id finds its row, folded or not.
    ALTER TABLE audit_log ADD COLUMN request_ids text[] CHECK (cardinality(request_ids) <= ${FOLDED_REQUEST_IDS});
    CREATE INDEX audit_log_request_ids_idx ON audit_log USING gin ((COALESCE(request_ids, ARRAY[request_id])));

    -- Only a folded row changes, and only by growing: its count, and its ids after those it had.
    DROP TRIGGER audit_log_count_grows ON audit_log;
    CREATE TRIGGER audit_log_fold_grows BEFORE UPDATE OF count, request_ids ON audit_log FOR EACH ROW
      WHEN (OLD.fold_key IS NULL OR NEW.count < OLD.count
            OR NEW.request_ids[1:cardinality(OLD.request_ids)] IS DISTINCT FROM OLD.request_ids)
      EXECUTE FUNCTION storage_audit_log_append_only();
  `);
  await grantToAppRole(knex, schema);
}

/** What the service needs, and for the tables later migrations make (as this role) too. */
async function grantToAppRole(knex: Knex, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await knex.raw(`
    GRANT USAGE ON SCHEMA ${s} TO ${APP_ROLE};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${APP_ROLE};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${s} TO ${APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT USAGE, SELECT ON SEQUENCES TO ${APP_ROLE};
    REVOKE ALL ON knex_migrations, knex_migrations_lock, audit_retention FROM ${APP_ROLE};
    REVOKE ALL ON audit_log FROM ${APP_ROLE};
    GRANT SELECT, INSERT ON audit_log TO ${APP_ROLE};
    GRANT UPDATE (count, request_ids) ON audit_log TO ${APP_ROLE};
    GRANT EXECUTE ON FUNCTION storage_prune_audit_log(integer) TO ${APP_ROLE};
  `);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export async function down(knex: Knex): Promise<void> {
  const s = quoteIdent((await knex.raw('SELECT current_schema() AS name')).rows[0].name as string);
  await knex.raw(`
    ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE ALL ON TABLES FROM ${APP_ROLE};
    ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE ALL ON SEQUENCES FROM ${APP_ROLE};
    REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM ${APP_ROLE};
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM ${APP_ROLE};
    REVOKE ALL ON SCHEMA ${s} FROM ${APP_ROLE};

    DROP TRIGGER audit_log_fold_grows ON audit_log;
    CREATE TRIGGER audit_log_count_grows
      BEFORE UPDATE OF count ON audit_log FOR EACH ROW WHEN (NEW.count < OLD.count) EXECUTE FUNCTION storage_audit_log_append_only();
    ALTER TABLE audit_log DROP COLUMN request_ids;

    DROP TRIGGER audit_log_kept_whole ON audit_log;
    DROP TRIGGER audit_log_kept ON audit_log;
    DROP FUNCTION storage_audit_log_kept();
    DROP FUNCTION storage_prune_audit_log(integer);
    DROP TABLE audit_retention;
  `);
}
