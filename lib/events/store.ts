/**
 * The store of the outbox: the only code that runs SQL against outbox_events.
 *
 * Invariants:
 * - An event is written by the transaction that makes the change it tells of (recordEvent), so it
 *   exists exactly when the change does; its `txid` is that transaction's (the column's default,
 *   pg_current_xact_id()), its `sequence` the order of writing. Each inserting statement notifies
 *   `storage_outbox` (a trigger), which wakes the relay at commit (lib/events/relayRuns.ts).
 * - Visibility (the xmin rule): a row is settled once its txid is older than every transaction still
 *   running in this database (SETTLED below). Nothing can commit later with a smaller (txid, sequence),
 *   so the feed's cursor over that order never skips an event, and the relay sends only settled rows.
 *   Transaction ids are the server's, but only a transaction of this database can write this table: the
 *   running ids of the snapshot that a backend of another database holds (its lock on its own id, in
 *   pg_locks, and that backend's database, in pg_stat_activity: both readable by any role) are left
 *   out, so a long transaction elsewhere on the server delays nothing here. An id not proven foreign
 *   (a prepared transaction, a backend that just ended) counts, which only delays.
 * - Order per subject: the relay sends only a subject's head, its pending event of the lowest
 *   sequence; a later event of the subject waits until every earlier one is delivered or parked.
 * - delivered_at is set once and never cleared; a failed attempt adds one to `attempts`, keeps its
 *   error (cut to 1000 characters) and pushes next_attempt_at back. parked_at is set once, on an
 *   event the hub refused at its last allowed attempt (activities/events.ts): it is no longer pending
 *   (it holds back nothing), keeps the hub's answer in last_error, and is never sent again.
 * - Rows leave only by retention (lib/lifecycle/tableRetention.ts): delivered or parked ones, by age.
 *
 * Lock order: writers lock no row first. Events are inserted last in their change's transaction,
 * after whatever rows it locked (the asset's, then its versions', ...); the relay updates one event row
 * at a time by its sequence, outside any other transaction.
 */
import type { Knex } from 'knex';

export interface OutboxRow {
  sequence: number;
  id: string;
  type: string;
  source: string;
  subject: string;
  time: Date;
  data: Record<string, unknown>;
  txid: string;
  delivered_at: Date | null;
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date;
  parked_at: Date | null;
}

/**
 * The oldest transaction id still running in this database (the snapshot's xmax when none is). A running
 * id is another database's when the backend holding its own ExclusiveLock is there: only the owner holds
 * that mode, while a waiter's ShareLock is granted for a moment after the owner ends, and must not count.
 */
const THIS_DATABASE_XMIN = `(
  SELECT coalesce(
    (SELECT min(x.id) FROM pg_snapshot_xip(snap.s) AS x(id)
      WHERE NOT EXISTS (
        SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted AND l.transactionid = x.id::xid
           AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
    pg_snapshot_xmax(snap.s))
  FROM (SELECT pg_current_snapshot() AS s) AS snap)`;

/** Over the alias `e`: the event can no longer be preceded by one that commits later. */
const SETTLED = `e.txid < ${THIS_DATABASE_XMIN}`;

export async function insertOutboxEvent(
  trx: Knex.Transaction,
  event: { id: string; type: string; source: string; subject: string; data: Record<string, unknown> },
): Promise<void> {
  await trx('outbox_events').insert({ ...event, data: JSON.stringify(event.data) });
}

// ---------------------------------------------------------------------------------------------
// The feed (GET /events)

export interface FeedFilter {
  /** Only the events of this subject. */
  subject?: string;
  /** Only events whose time is after this. */
  timeAfter?: Date;
  /** The newest `limit` events after `after` rather than the oldest (still answered oldest first). */
  newest?: boolean;
}

/** Settled events in (txid, sequence) order after the position `after` ({ t: txid, s: sequence }). */
export async function selectSettledEvents(db: Knex, after: { t: string; s: number } | undefined, limit: number, filter: FeedFilter = {}): Promise<OutboxRow[]> {
  const query = db('outbox_events as e')
    .select('e.sequence', 'e.id', 'e.type', 'e.source', 'e.subject', 'e.time', 'e.data', db.raw('e.txid::text AS txid'))
    .whereRaw(SETTLED);
  if (after) query.whereRaw('(e.txid, e.sequence) > (?::xid8, ?)', [after.t, after.s]);
  if (filter.subject !== undefined) query.where('e.subject', filter.subject);
  if (filter.timeAfter) query.where('e.time', '>', filter.timeAfter);
  const rows = (await query.orderByRaw(filter.newest ? 'e.txid DESC, e.sequence DESC' : 'e.txid, e.sequence').limit(limit)) as OutboxRow[];
  return filter.newest ? rows.reverse() : rows;
}

// ---------------------------------------------------------------------------------------------
// The relay

/** Pending events (neither delivered nor parked) with no earlier pending event of their subject. */
function heads(db: Knex) {
  return db('outbox_events as e')
    .whereNull('e.delivered_at')
    .whereNull('e.parked_at')
    .whereNotExists(
      db('outbox_events as p').whereRaw('p.subject = e.subject').whereNull('p.delivered_at').whereNull('p.parked_at').whereRaw('p.sequence < e.sequence'),
    );
}

/** Settled heads, the most overdue first; with `dueOnly`, only those whose next attempt has come. */
export function selectSettledHeads(db: Knex, limit: number, dueOnly: boolean): Promise<OutboxRow[]> {
  const query = heads(db).select('e.*').whereRaw(SETTLED);
  if (dueOnly) query.where('e.next_attempt_at', '<=', db.fn.now());
  return query.orderBy([{ column: 'e.next_attempt_at' }, { column: 'e.sequence' }]).limit(limit) as Promise<OutboxRow[]>;
}

export async function markEventDelivered(db: Knex, row: Pick<OutboxRow, 'sequence' | 'attempts'>): Promise<void> {
  await db('outbox_events')
    .where({ sequence: row.sequence })
    .update({ delivered_at: db.fn.now(), attempts: row.attempts + 1, last_error: null });
}

/** A failed attempt: its error kept, its next attempt `backoffSeconds` from now on the database's clock. */
export async function markEventAttemptFailed(db: Knex, row: Pick<OutboxRow, 'sequence' | 'attempts'>, error: string, backoffSeconds: number): Promise<void> {
  await db('outbox_events')
    .where({ sequence: row.sequence })
    .update({
      attempts: row.attempts + 1,
      last_error: error.slice(0, 1000),
      next_attempt_at: db.raw(`now() + make_interval(secs => ?)`, [backoffSeconds]),
    });
}

/** An event the hub refused for the last time: parked with the hub's answer, it no longer holds back its subject. */
export async function markEventParked(db: Knex, row: Pick<OutboxRow, 'sequence' | 'attempts'>, error: string): Promise<void> {
  await db('outbox_events')
    .where({ sequence: row.sequence })
    .whereNull('delivered_at')
    .update({ attempts: row.attempts + 1, last_error: error.slice(0, 1000), parked_at: db.fn.now() });
}

/** Every pending event waiting for a later attempt becomes due now. */
export async function makeWaitingEventsDue(db: Knex): Promise<void> {
  await db('outbox_events')
    .whereNull('delivered_at')
    .whereNull('parked_at')
    .where('next_attempt_at', '>', db.fn.now())
    .update({ next_attempt_at: db.fn.now() });
}

/** How long until a settled head is due (null: none is pending), and whether some head is not settled yet. */
export async function selectHeadsTiming(db: Knex): Promise<{ due_in_ms: string | number | null; unsettled: boolean }> {
  return db
    .from(
      heads(db)
        .select('e.next_attempt_at', db.raw(`${SETTLED} AS settled`))
        .as('h'),
    )
    .first(
      db.raw(`extract(epoch FROM min(h.next_attempt_at) FILTER (WHERE h.settled) - now()) * 1000 AS due_in_ms`),
      db.raw(`coalesce(bool_or(NOT h.settled), false) AS unsettled`),
    );
}

// ---------------------------------------------------------------------------------------------
// The metrics

/** Events not delivered yet, those of them whose last attempt failed, and those of them parked (failing too). */
export async function countOutboxBacklog(db: Knex): Promise<{ pending: number; failing: number; parked: number }> {
  const outbox = await db('outbox_events')
    .whereNull('delivered_at')
    .select(
      db.raw('count(*)::int AS pending'),
      db.raw('count(*) FILTER (WHERE last_error IS NOT NULL)::int AS failing'),
      db.raw('count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked'),
    )
    .first();
  return { pending: outbox?.pending ?? 0, failing: outbox?.failing ?? 0, parked: outbox?.parked ?? 0 };
}

// ---------------------------------------------------------------------------------------------
// Retention (lib/lifecycle/tableRetention.ts)

/** Deletes up to `limit` events delivered, or parked, before `before`, oldest first; answers how many. */
export async function deleteEventsSettledBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const delivered = await db('outbox_events')
    .whereIn('sequence', db('outbox_events').select('sequence').where('delivered_at', '<', before).orderBy('delivered_at').limit(limit))
    .delete();
  if (delivered >= limit) return delivered;
  const parked = await db('outbox_events')
    .whereIn(
      'sequence',
      db('outbox_events')
        .select('sequence')
        .where('parked_at', '<', before)
        .orderBy('parked_at')
        .limit(limit - delivered),
    )
    .delete();
  return delivered + parked;
}

// ---- used by assets (moved from activities/assets.ts) ----

/** The latest event about `subject`, by sequence. */
export async function latestEventAbout(trx: import('knex').Knex.Transaction, subject: string) {
  return trx('outbox_events').where({ subject }).orderBy('sequence', 'desc').first();
}
