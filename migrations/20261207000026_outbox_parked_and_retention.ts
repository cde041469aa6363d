import type { Knex } from 'knex';

/**
 * Issue 26: an event the hub keeps refusing is parked (it no longer holds back its subject), and the
 * tables that grew for ever lose their ended rows past their retention (lib/lifecycle/tableRetention.ts),
 * found through these indexes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- Set once, when the relay gives up on an event the hub refused (last_error keeps the hub's answer).
    ALTER TABLE outbox_events ADD COLUMN parked_at timestamptz;
    -- Retention: delivered events, and parked ones, by age.
    CREATE INDEX outbox_events_delivered_idx ON outbox_events (delivered_at) WHERE delivered_at IS NOT NULL;
    CREATE INDEX outbox_events_parked_idx ON outbox_events (parked_at) WHERE parked_at IS NOT NULL;
    -- Retention: ended upload sessions by the time they ended (their last update).
    CREATE INDEX upload_sessions_ended_idx ON upload_sessions (updated_at, id) WHERE status IN ('completed', 'failed', 'aborted', 'expired');
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX IF EXISTS upload_sessions_ended_idx;
    DROP INDEX IF EXISTS outbox_events_parked_idx;
    DROP INDEX IF EXISTS outbox_events_delivered_idx;
    ALTER TABLE outbox_events DROP COLUMN IF EXISTS parked_at;
  `);
}
