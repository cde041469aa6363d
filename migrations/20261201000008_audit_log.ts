import type { Knex } from 'knex';

/**
 * The audit log (issue 14, lib/audit/log.ts): who did what to which subject, with what outcome. Rows
 * are only ever added: a trigger refuses any update but the growth of a folded row's count, and only
 * retention deletes them. Each filter of GET /api/v2/audit has its index, newest first by (at, id).
 *
 * The rows that carry a workflow's change record whom the run acts for, so its commit can say so.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_log (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at              timestamptz NOT NULL DEFAULT now(),
      -- The token's subject ('system' for schedules); NULL: no verified token (a 401).
      actor           text,
      actor_roles     text[] NOT NULL DEFAULT '{}',
      action          text NOT NULL,
      asset_id        uuid,
      version_id      uuid,
      upload_id       uuid,
      policy_id       uuid,
      backup_id       uuid,
      restore_id      uuid,
      subjects        uuid[] GENERATED ALWAYS AS (array_remove(ARRAY[asset_id, version_id, upload_id, policy_id, backup_id, restore_id], NULL)) STORED,
      -- An HTTP status ('204', '403'), or a workflow's result ('completed').
      outcome         text NOT NULL,
      request_id      text,
      client_address  text,
      user_agent      text,
      -- Refusals only: minute|actor (or client)|action|outcome. Repeats within the minute add to count.
      fold_key        text UNIQUE,
      count           integer NOT NULL DEFAULT 1 CHECK (count >= 1)
    );
    CREATE INDEX audit_log_at_idx ON audit_log (at, id);
    CREATE INDEX audit_log_actor_idx ON audit_log (actor, at, id);
    CREATE INDEX audit_log_action_idx ON audit_log (action, at, id);
    CREATE INDEX audit_log_outcome_idx ON audit_log (outcome, at, id);
    CREATE INDEX audit_log_subjects_idx ON audit_log USING gin (subjects);

    -- Column triggers: a fold's upsert sets only count, and no trigger runs for it.
    CREATE FUNCTION storage_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log rows are append-only: only a folded row''s count grows';
    END $$;
    CREATE TRIGGER audit_log_append_only
      BEFORE UPDATE OF id, at, actor, actor_roles, action, asset_id, version_id, upload_id, policy_id, backup_id, restore_id,
                       outcome, request_id, client_address, user_agent, fold_key
      ON audit_log FOR EACH ROW EXECUTE FUNCTION storage_audit_log_append_only();
    CREATE TRIGGER audit_log_count_grows
      BEFORE UPDATE OF count ON audit_log FOR EACH ROW WHEN (NEW.count < OLD.count) EXECUTE FUNCTION storage_audit_log_append_only();

    -- { sub, roles }; NULL on rows made before runs recorded it (they act for the system).
    ALTER TABLE upload_sessions ADD COLUMN actor jsonb;
    ALTER TABLE lifecycle_runs ADD COLUMN actor jsonb;
    ALTER TABLE backup_jobs ADD COLUMN actor jsonb;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE backup_jobs DROP COLUMN actor;
    ALTER TABLE lifecycle_runs DROP COLUMN actor;
    ALTER TABLE upload_sessions DROP COLUMN actor;
    DROP TABLE audit_log;
    DROP FUNCTION storage_audit_log_append_only();
  `);
}
