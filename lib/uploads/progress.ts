/**
 * A session's progress while its bytes stream through the API (issue 26): its run ends a session that
 * shows none for STORAGE_UPLOAD_STALL_SECONDS, so a body still arriving must say so often enough, and
 * cheaply: one UPDATE of its row every few seconds at most, whatever the chunk rate.
 */
import type { Knex } from 'knex';
import { stallBoundOf } from '../../workflows/uploads/definitions';
import type { Config } from '../platform/config';
import type { UploadSessionRow } from './sessionRow';
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

/**
 * When an open session ends unless its client shows progress first (what tus `Upload-Expires` and a
 * session's `expires_at` say): its expiry, or its last progress plus its kind's stall bound, whichever
 * is earlier. A sliding deadline: each part or PATCH moves it on. Its run ends it no sooner (it looks
 * every STORAGE_UPLOAD_STALL_SECONDS), so a client that resumes before it finds its session open.
 * `lastPartAt` is when S3 received the session's last part (parts PUT by presigned URL pass no API).
 */
export function sessionDeadline(
  row: Pick<UploadSessionRow, 'kind' | 'expires_at' | 'last_progress_at'>,
  bounds: Pick<Config['uploads'], 'stallSeconds' | 'resumableStallSeconds'>,
  lastPartAt = 0,
): Date {
  const stallSeconds = stallBoundOf({ kind: row.kind, ...bounds })!;
  const lastProgress = Math.max(row.last_progress_at.getTime(), lastPartAt);
  return new Date(Math.min(row.expires_at.getTime(), lastProgress + stallSeconds * 1000));
}
