import type { Knex } from 'knex';

/** The event feed and the relay's order per subject; ingest as a kind of upload. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- GET /events: the feed in (txid, sequence) order, by keyset cursor.
    CREATE INDEX outbox_events_feed_idx ON outbox_events (txid, sequence);
    -- The relay: is an earlier event of the same subject still pending?
    CREATE INDEX outbox_events_pending_subject_idx ON outbox_events (subject, sequence) WHERE delivered_at IS NULL;

    -- Wakes the relay right after a commit that wrote events (one notification per transaction).
    CREATE FUNCTION storage_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('storage_outbox', '');
      RETURN NULL;
    END $$;
    CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
      FOR EACH STATEMENT EXECUTE FUNCTION storage_outbox_notify();

    ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_kind_check;
    ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_kind_check CHECK (kind IN ('simple', 'chunked', 'copy', 'fetch'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_kind_check;
    ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_kind_check CHECK (kind IN ('simple', 'chunked', 'copy'));
    DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events;
    DROP FUNCTION IF EXISTS storage_outbox_notify();
    DROP INDEX IF EXISTS outbox_events_pending_subject_idx;
    DROP INDEX IF EXISTS outbox_events_feed_idx;
  `);
}
