import { createHash } from 'node:crypto';
import { ValidationError } from './errors';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/*
 * Keyset cursors: opaque to clients (the document states only a string of at most 1024 characters),
 * a position (sort key and id) to us. A cursor is base64url of one version byte, an 8-byte check (the
 * first bytes of the SHA-256 of the rest) and the position's JSON: a cursor cut short, changed by
 * hand or mangled in transit fails its check and is a 400, not another page. The check is not a
 * signature: a position only says where a page starts, and every list still filters what its caller
 * may see, so a forged one reveals nothing.
 *
 * Cursors of the first form (base64url of the position's JSON alone, starting `ey`) are still read:
 * an event feed's reader keeps its last cursor across deployments.
 */
const VERSION = 1;
const CHECK_BYTES = 8;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

function checkOf(json: Buffer): Buffer {
  return createHash('sha256').update(json).digest().subarray(0, CHECK_BYTES);
}

export function encodeCursor(position: Record<string, unknown>): string {
  const json = Buffer.from(JSON.stringify(position));
  return Buffer.concat([Buffer.from([VERSION]), checkOf(json), json]).toString('base64url');
}

/** The JSON of a cursor's position, or undefined when the text is no cursor this API handed out. */
function positionText(cursor: string): Buffer | undefined {
  if (!BASE64URL.test(cursor)) return undefined;
  const bytes = Buffer.from(cursor, 'base64url');
  if (cursor.startsWith('ey')) return bytes;
  if (bytes.length <= 1 + CHECK_BYTES || bytes[0] !== VERSION) return undefined;
  const json = bytes.subarray(1 + CHECK_BYTES);
  return checkOf(json).equals(bytes.subarray(1, 1 + CHECK_BYTES)) ? json : undefined;
}

/**
 * PostgreSQL text holds no NUL, so no handed-out position has one; a forged one (the first form has
 * no check) would reach a query as a string the database refuses, a 500 instead of this 400.
 */
function holdsNul(position: object): boolean {
  return Object.values(position).some((v) => typeof v === 'string' && v.includes('\u0000'));
}

/** The position `cursor` holds; `name` is the query parameter it came in (a 400 names it). */
export function decodeCursor<T extends Record<string, unknown>>(
  cursor: string | undefined,
  check: (p: Record<string, unknown>) => p is T,
  name = 'cursor',
): T | undefined {
  if (cursor === undefined) return undefined;
  let position: unknown;
  try {
    const json = positionText(cursor);
    position = json && JSON.parse(json.toString('utf8'));
  } catch {
    position = undefined;
  }
  if (!position || typeof position !== 'object' || Array.isArray(position) || holdsNul(position) || !check(position as Record<string, unknown>)) {
    throw new ValidationError(`invalid query: ${name} is not one this list handed out: pass a next_cursor as it was given`, [
      { path: name, message: 'invalid cursor: pass a next_cursor as it was given' },
    ]);
  }
  return position as T;
}

/** Fetch limit + 1 rows; the extra row only says whether there is a next page. */
export function pageOf<Row, T>(rows: Row[], limit: number, toItem: (row: Row) => T, positionOf: (row: Row) => Record<string, unknown>): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(toItem), next_cursor: more ? encodeCursor(positionOf(kept[kept.length - 1])) : null };
}
