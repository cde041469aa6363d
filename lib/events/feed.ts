import type { Knex } from 'knex';
import { decodeCursor, encodeCursor } from '../platform/pagination';

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
}

export interface CloudEventJson {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: Record<string, unknown>;
}

export function toCloudEvent(row: OutboxRow): CloudEventJson {
  return {
    specversion: '1.0',
    id: row.id,
    source: row.source,
    type: row.type,
    subject: row.subject,
    time: row.time.toISOString(),
    datacontenttype: 'application/json',
    data: row.data,
  };
}

/**
 * Rows whose writing transaction is older than every transaction still running: nothing can commit
 * later with a smaller (txid, sequence), so a cursor over that order never skips an event. The relay
 * sends only these too: an earlier event of the same subject may still be in a running transaction.
 */
export const SETTLED = 'txid < pg_snapshot_xmin(pg_current_snapshot())';

type FeedCursor = { t: string; s: number };

/**
 * GET /events: oldest first. A feed is read by polling, so `next_cursor` is always the position after
 * the last event returned (the given cursor when there is nothing new), even at the end.
 */
export async function listEvents(
  db: Knex,
  q: { after?: string; limit: number },
): Promise<{ items: Array<CloudEventJson & { sequence: number }>; next_cursor: string | null }> {
  const cursor = decodeCursor(q.after, (p): p is FeedCursor => typeof p.t === 'string' && /^\d+$/.test(p.t) && Number.isInteger(p.s));
  const query = db('outbox_events as e')
    .select('e.sequence', 'e.id', 'e.type', 'e.source', 'e.subject', 'e.time', 'e.data', db.raw('e.txid::text AS txid'))
    .whereRaw(SETTLED);
  if (cursor) query.whereRaw('(e.txid, e.sequence) > (?::xid8, ?)', [cursor.t, cursor.s]);
  const rows = (await query.orderByRaw('e.txid, e.sequence').limit(q.limit)) as OutboxRow[];
  const last = rows[rows.length - 1];
  return {
    items: rows.map((row) => ({ ...toCloudEvent(row), sequence: row.sequence })),
    next_cursor: last ? encodeCursor({ t: last.txid, s: last.sequence }) : (q.after ?? null),
  };
}
