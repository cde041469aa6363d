/**
 * Cursor paging of the admin lists: the API hands out next_cursor only, so the cursors of the pages
 * seen are kept to go back.
 */
import { useState } from 'preact/hooks';

export interface Cursor {
  /** The cursor of the page shown (undefined: the first). */
  cursor: string | undefined;
  page: number;
  next(cursor: string): void;
  previous(): void;
  first(): void;
}

export function useCursor(): Cursor {
  const [stack, setStack] = useState<string[]>([]);
  return {
    cursor: stack[stack.length - 1],
    page: stack.length + 1,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => s.slice(0, -1)),
    first: () => setStack([]),
  };
}

/** Previous / next page buttons under a list; `label` names the list for screen readers. */
export function Pager(props: { at: Cursor; nextCursor: string | null | undefined; label: string }) {
  const { at, nextCursor, label } = props;
  if (at.page === 1 && !nextCursor) return null;
  return (
    <div class="actions" role="group" aria-label={`${label} pages`}>
      <button type="button" onClick={at.previous} disabled={at.page === 1} aria-label={`Previous page of ${label}`}>
        Previous
      </button>
      <span class="muted">Page {at.page}</span>
      <button type="button" onClick={() => nextCursor && at.next(nextCursor)} disabled={!nextCursor} aria-label={`Next page of ${label}`}>
        Next
      </button>
    </div>
  );
}
