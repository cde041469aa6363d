/**
 * The pg_advisory_xact_lock key of the backup bucket's blobs ("blobs" in ASCII). Taken shared by
 * whatever adds to what a backup keeps (a manifest registered, a content handed off), exclusively by
 * each page of the retention sweep's deletions (lib/backups/retention.ts).
 */
export const BLOB_LOCK = 0x626c6f6273;
