import type { Knex } from 'knex';
import { decodeCursor, encodeCursor } from '../platform/pagination';
import { selectSettledEvents, type FeedFilter, type OutboxRow } from './store';

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

type FeedCursor = { t: string; s: number };

/**
 * GET /events: oldest first, settled events only (lib/events/store.ts), so a cursor never skips one. A
 * feed is read by polling, so `next_cursor` is always the position after the last event returned (the
 * given cursor when there is nothing new), even at the end. `last` answers the newest events after the
 * cursor instead of the oldest: its next_cursor is then the end of the feed (of the subject's events,
 * with `subject`), where a reader that wants only what happens from now on starts.
 */
export async function listEvents(
  db: Knex,
  q: { cursor?: string; limit: number; cursorName?: string; subject?: string; created_after?: Date; last?: number },
): Promise<{ items: Array<CloudEventJson & { sequence: number }>; next_cursor: string | null }> {
  const cursor = decodeCursor(q.cursor, (p): p is FeedCursor => typeof p.t === 'string' && /^\d+$/.test(p.t) && Number.isInteger(p.s), q.cursorName);
  const filter: FeedFilter = { subject: q.subject, timeAfter: q.created_after, newest: q.last !== undefined };
  const rows = await selectSettledEvents(db, cursor, q.last ?? q.limit, filter);
  const last = rows[rows.length - 1];
  return {
    items: rows.map((row) => ({ ...toCloudEvent(row), sequence: row.sequence })),
    next_cursor: last ? encodeCursor({ t: last.txid, s: last.sequence }) : (q.cursor ?? null),
  };
}
