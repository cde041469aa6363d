/**
 * Incomplete multipart uploads in the assets bucket that nothing will complete: a staging API or a
 * worker that died mid-write leaves them, and their parts are stored (and billed) until aborted.
 * The lifecycle run calls this once per run (workflows/lifecycle/sweep.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { abortMultipartUpload, listIncompleteUploads } from '../platform/multipart';
import { keysOfSessionsInProgress } from './store';

// One call reads at most this many pages of 1,000 uploads, well within the 2 minutes the lifecycle run
// gives it: the next run goes on with what is left.
const MAX_PAGES = 2;

export interface IncompleteUploadsSwept {
  /** Uploads aborted: begun before the bound, and no open or completing session writes to their key. */
  aborted: number;
  /** Uploads past the bound left alone: an open or completing session still writes to their key. */
  owned: number;
  /** Aborts the store refused: left for the next call. */
  failed: number;
  /** Uploads left alone because the listing gave no start date: their age is unknown, and one in use must not be aborted. */
  undated: number;
  /** Whether the listing was read to its end (false: the page bound stopped it). */
  complete: boolean;
}

/**
 * Aborts every multipart upload begun before `olderThan` (when no writer without a session row can
 * still be at it: activities/uploads/uploads.ts) but one at the key of a session still open or
 * completing, reading at most MAX_PAGES.
 */
export async function abortIncompleteUploads(
  db: Knex,
  s3: S3Client,
  bucket: string,
  { olderThan, maxPages = MAX_PAGES }: { olderThan: Date; maxPages?: number },
): Promise<IncompleteUploadsSwept> {
  const swept: IncompleteUploadsSwept = { aborted: 0, owned: 0, failed: 0, undated: 0, complete: false };
  let next: Awaited<ReturnType<typeof listIncompleteUploads>>['next'];
  for (let page = 0; page < maxPages; page++) {
    const listed = await listIncompleteUploads(s3, bucket, { next });
    // An upload whose start the store does not report is not taken as old: it may be one a session is
    // writing right now. It is counted, so that a store that never reports it is seen; the store's own
    // lifecycle rule (AbortIncompleteMultipartUpload) is what ends those.
    swept.undated += listed.uploads.filter((u) => !u.initiated).length;
    const old = listed.uploads.filter((u) => u.initiated && u.initiated.getTime() < olderThan.getTime());
    const owned = new Set(await keysOfSessionsInProgress(db, [...new Set(old.map((u) => u.key))]));
    for (const upload of old) {
      if (owned.has(upload.key)) swept.owned++;
      else swept[(await aborts(s3, bucket, upload)) ? 'aborted' : 'failed']++;
    }
    next = listed.next;
    if (!next) return { ...swept, complete: true };
  }
  return swept;
}

/** Whether the store aborted the upload (or had no such upload left). */
async function aborts(s3: S3Client, bucket: string, upload: { key: string; uploadId: string }): Promise<boolean> {
  try {
    await abortMultipartUpload(s3, bucket, upload.key, upload.uploadId);
    return true;
  } catch {
    return false;
  }
}
