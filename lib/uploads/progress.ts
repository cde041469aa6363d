/**
 * A session's progress while its bytes stream through the API (issue 26): its run ends a session that
 * shows none for STORAGE_UPLOAD_STALL_SECONDS, so a body still arriving must say so often enough, and
 * cheaply: one UPDATE of its row every few seconds at most, whatever the chunk rate.
 */
import type { Knex } from 'knex';
import { touchSessionProgress } from './store';

// A fifth of the stall bound (a stream counts as alive several times before its run would look), and never under 5 s apart otherwise.
const touchesPerStall = 5;
const MAX_TOUCH_EVERY_MS = 5_000;

/**
 * What counts a stream's bytes (`countBytes`, the metrics' counter) and touches the session's row on
 * the way, without waiting: a touch that fails is a missed one, and the next chunk's tries again.
 */
export function countingProgress(db: Knex, uploadId: string, stallSeconds: number, countBytes: (n: number) => void = () => {}): (n: number) => void {
  const everyMs = Math.min(MAX_TOUCH_EVERY_MS, (stallSeconds * 1000) / touchesPerStall);
  let lastTouch = 0;
  return (n) => {
    countBytes(n);
    const now = Date.now();
    if (now - lastTouch < everyMs) return;
    lastTouch = now;
    touchSessionProgress(db, uploadId, everyMs).catch(() => {});
  };
}
