/** Keyset cursors (lib/platform/pagination.ts): opaque, checked, and the first form still read. */
import { ValidationError } from '../../lib/platform/errors';
import { decodeCursor, encodeCursor, pageOf } from '../../lib/platform/pagination';

type Position = { id: string; n: number };
const isPosition = (p: Record<string, unknown>): p is Position => typeof p.id === 'string' && Number.isInteger(p.n);

function refusal(cursor: string, name?: string): ValidationError {
  try {
    decodeCursor(cursor, isPosition, name);
  } catch (err) {
    return err as ValidationError;
  }
  throw new Error(`${cursor} was read`);
}

it('a cursor gives back its position, and shows no JSON', () => {
  const cursor = encodeCursor({ id: 'x', n: 3 });
  expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
  expect(cursor.startsWith('ey')).toBe(false);
  expect(decodeCursor(cursor, isPosition)).toEqual({ id: 'x', n: 3 });
  expect(decodeCursor(undefined, isPosition)).toBeUndefined();
});

it('every one-character change, a cut and an addition are refused, naming the parameter', () => {
  const cursor = encodeCursor({ id: 'abcdef', n: 12345 });
  const changed = [...cursor].map((c, i) => cursor.slice(0, i) + (c === 'A' ? 'B' : 'A') + cursor.slice(i + 1));
  for (const bad of [...changed, cursor.slice(0, -1), `${cursor}A`, '', 'A']) {
    const err = refusal(bad, 'after');
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.facts.errors).toEqual([{ path: 'after', message: 'invalid cursor: pass a next_cursor as it was given' }]);
  }
});

it('a cursor of the first form (base64url of the JSON) is still read; one of the wrong shape is refused', () => {
  expect(decodeCursor(Buffer.from('{"id":"y","n":1}').toString('base64url'), isPosition)).toEqual({ id: 'y', n: 1 });
  expect(refusal(Buffer.from('{"id":"y"}').toString('base64url')).facts.errors).toEqual([{ path: 'cursor', message: expect.any(String) }]);
  expect(refusal(encodeCursor({ id: 1, n: 1 }))).toBeInstanceOf(ValidationError);
});

it('a page holds at most limit items, and a next_cursor only when there are more', () => {
  const rows = [1, 2, 3].map((n) => ({ id: `r${n}`, n }));
  const page = pageOf(
    rows,
    2,
    (r) => r.id,
    (r) => r,
  );
  expect(page.items).toEqual(['r1', 'r2']);
  expect(decodeCursor(page.next_cursor!, isPosition)).toEqual({ id: 'r2', n: 2 });
  expect(
    pageOf(
      rows,
      3,
      (r) => r.id,
      (r) => r,
    ).next_cursor,
  ).toBeNull();
});
