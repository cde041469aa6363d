import { ValidationError } from './errors';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Keyset cursors: opaque to clients, a position (sort key and id) to us. */
export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor<T extends Record<string, unknown>>(cursor: string | undefined, check: (p: Record<string, unknown>) => p is T): T | undefined {
  if (cursor === undefined) return undefined;
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = undefined;
  }
  if (!position || typeof position !== 'object' || !check(position as Record<string, unknown>)) {
    throw new ValidationError('cursor is not one this list handed out', [{ path: 'cursor', message: 'invalid cursor' }]);
  }
  return position as T;
}

/** Fetch limit + 1 rows; the extra row only says whether there is a next page. */
export function pageOf<Row, T>(rows: Row[], limit: number, toItem: (row: Row) => T, positionOf: (row: Row) => Record<string, unknown>): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(toItem), next_cursor: more ? encodeCursor(positionOf(kept[kept.length - 1])) : null };
}
