/**
 * Backup retention (docs/architecture.md), the catalog side, and the one rule that keeps it safe:
 * a blob a retained or running backup needs is never deleted. Retained is judged by the backup
 * bucket, not the catalog: every manifest the bucket holds is marked, whatever the catalog says
 * (expiry has deleted the manifests of the backups it removed), so a backup the catalog has lost
 * keeps its blobs (lib/backups/retentionSweeps.ts reports it).
 *
 * A backup registers its manifest (`manifest_written_at`) before it looks at a single blob, under a
 * shared advisory lock. The sweep marks every blob the registered, retained manifests name, then
 * deletes unmarked blobs a page at a time, each page under the same lock taken exclusively, after
 * marking any manifest registered since. So a backup either registered before the page (its blobs
 * are marked and kept) or registers after it (the page's deletions are done, and its copy phase
 * finds those blobs missing and copies them again). A backup a restore is reading is not expired.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { BLOB_PREFIX, blobKeyFor, type BackupProgress } from './catalog';
import { type BackupCounts } from './jobRows';
import { ManifestCorruptError, readManifestLines, type WrittenManifest } from './manifest';
import { deleteKeys, isNotFound } from '../platform/storedObjects';
import { listManifests } from './bucket';
import {
  backupManifestFields,
  clearManifestKey,
  deleteSweepScratch,
  forgetBlobChecks,
  insertSweepManifest,
  insertSweepMarks,
  lockExpiredBackups,
  markBackupsRemoved,
  markedContents,
  registerManifestRow,
  removedBackupsWithManifest,
  sweepManifestIds,
  takeBlobLockExclusive,
  takeBlobLockShared,
  unmarkedManifests,
} from './store';
import { markHandedOff } from './handoff';

/**
 * Records the manifest a backup wrote, under the shared blob lock: from this commit on, the
 * retention sweep keeps every blob it names. A repeat changes nothing.
 */
export async function registerManifest(db: Knex, backupId: string, manifestKey: string, written: WrittenManifest, progress: BackupProgress): Promise<void> {
  await db.transaction(async (trx) => {
    await takeBlobLockShared(trx);
    await registerManifestRow(trx, backupId, {
      manifest_key: manifestKey,
      manifest_sha256: written.sha256,
      manifest_size_bytes: written.sizeBytes,
      blobs_offset: written.blobsOffset,
      assets_offset: written.assetsOffset,
      records_offset: written.recordsOffset,
      counts: JSON.stringify(written.counts satisfies BackupCounts),
      progress: JSON.stringify(progress),
    });
  });
}

export interface ExpiredBackup {
  id: string;
  manifest_key: string | null;
}

/**
 * Marks up to `limit` backups past their expires_at (completed or failed) removed, with the rows `audit`
 * writes of them in the same transaction, skipping any a
 * restore is reading or about to read. Answers how many it marked, and the removed backups (these or
 * earlier ones) whose manifest is still to be deleted.
 */
export async function expireBackups(
  db: Knex,
  asOf: Date,
  audit: (trx: Knex.Transaction, backupIds: string[]) => Promise<void>,
  limit = 100,
): Promise<{ marked: number; manifests: ExpiredBackup[] }> {
  const marked = await db.transaction(async (trx) => {
    const rows = await lockExpiredBackups(trx, asOf, limit);
    if (rows.length) {
      await markBackupsRemoved(
        trx,
        rows.map((r) => r.id),
      );
      await audit(
        trx,
        rows.map((r) => r.id),
      );
    }
    return rows.length;
  });
  const manifests: ExpiredBackup[] = await removedBackupsWithManifest(db, limit);
  return { marked, manifests };
}

/** After its manifest and summary are deleted: the backup's row keeps its history, without the key. */
export async function forgetManifest(db: Knex, backupId: string): Promise<void> {
  await clearManifestKey(db, backupId);
}

const MARK_BATCH = 1000;

interface ManifestToMark {
  id: string;
  manifest_key: string;
  manifest_size_bytes: number;
  /** Where its blob lines begin, if the catalog knows; else the manifest is read from its start. */
  blobs_offset: number;
}

/**
 * Marks the blobs one manifest names; then the manifest itself, so that the sweep does not read it
 * again. Marks are idempotent, so a retry only reads again. A manifest gone from the bucket names
 * nothing any more; one that cannot be read is a ManifestCorruptError.
 */
async function markManifest(db: Knex, s3: S3Client, backupBucket: string, sweepId: string, m: ManifestToMark, onProgress: () => void): Promise<void> {
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await insertSweepMarks(db, sweepId, batch);
    batch = [];
    onProgress();
  };
  try {
    for await (const { line } of readManifestLines(s3, { bucket: backupBucket, key: m.manifest_key, sizeBytes: m.manifest_size_bytes }, m.blobs_offset)) {
      if (line.type !== 'blob') continue;
      batch.push(line.sha256);
      if (batch.length >= MARK_BATCH) await flush();
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await flush();
  await insertSweepManifest(db, sweepId, m.id);
}

/**
 * Marks the blobs of every retained manifest the catalog has registered and this sweep has not marked
 * yet; answers how many manifests it read.
 */
export async function markManifests(db: Knex, s3: S3Client, backupBucket: string, sweepId: string, onProgress: () => void = () => {}): Promise<number> {
  // Registered manifests of backups not removed (a failed one's manifest is in the bucket until it expires, like any other).
  const manifests = await unmarkedManifests(db, sweepId);
  for (const m of manifests) await markManifest(db, s3, backupBucket, sweepId, m, onProgress);
  return manifests.length;
}

/**
 * Marks the blobs of every manifest in the backup bucket, known to the catalog or not (one it does not
 * know is read from its start). Answers how many it read, and those it could not read: their blobs
 * are unknown, so the sweep must not delete any.
 */
export async function markBucketManifests(
  db: Knex,
  s3: S3Client,
  backupBucket: string,
  sweepId: string,
  onProgress: () => void = () => {},
): Promise<{ manifests: number; unreadable: string[] }> {
  const stored = await listManifests(s3, backupBucket);
  const marked = new Set<string>(await sweepManifestIds(db, sweepId));
  const rows = new Map<string, { manifest_key: string | null; manifest_size_bytes: number | null; blobs_offset: number | null }>(
    (
      await backupManifestFields(
        db,
        stored.map((m) => m.backupId),
      )
    ).map((r) => [r.id, r]),
  );
  const unreadable: string[] = [];
  let read = 0;
  for (const m of stored.filter((s) => !marked.has(s.backupId))) {
    const row = rows.get(m.backupId);
    const known = row?.manifest_key === m.key && row.manifest_size_bytes === m.sizeBytes && row.blobs_offset !== null;
    try {
      await markManifest(
        db,
        s3,
        backupBucket,
        sweepId,
        { id: m.backupId, manifest_key: m.key, manifest_size_bytes: m.sizeBytes, blobs_offset: known ? row.blobs_offset! : 0 },
        onProgress,
      );
      read++;
    } catch (err) {
      if (!(err instanceof ManifestCorruptError)) throw err;
      unreadable.push(`${m.key}: ${err.message}`);
    }
  }
  return { manifests: read, unreadable };
}

export interface SweepPage {
  /** Where the next page starts (the last key listed); null when the listing ended. */
  startAfter: string | null;
  deleted: number;
  bytesFreed: number;
}

/**
 * One page of the blob listing: under the exclusive blob lock, marks what was registered since,
 * then deletes the page's blobs that no mark names. Keys outside the content-address layout are left alone.
 */
export async function sweepBlobPage(
  db: Knex,
  s3: S3Client,
  backupBucket: string,
  sweepId: string,
  startAfter: string | null,
  pageSize = 1000,
): Promise<SweepPage> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: backupBucket, Prefix: BLOB_PREFIX, StartAfter: startAfter ?? undefined, MaxKeys: pageSize }));
  const objects = (page.Contents ?? []).filter((o) => o.Key);
  if (objects.length === 0) return { startAfter: null, deleted: 0, bytesFreed: 0 };
  const blobs = objects
    .map((o) => ({ key: o.Key!, size: o.Size ?? 0, sha256: o.Key!.slice(o.Key!.lastIndexOf('/') + 1) }))
    .filter((b) => /^[0-9a-f]{64}$/.test(b.sha256) && blobKeyFor(b.sha256) === b.key);
  let doomed: typeof blobs = [];
  await db.transaction(async (trx) => {
    await takeBlobLockExclusive(trx);
    // Manifests registered since the mark phase (their backups wait on the lock meanwhile).
    await markManifests(db, s3, backupBucket, sweepId);
    // And what running backups were handed by deletions since their snapshot (lib/backups/handoff.ts).
    await markHandedOff(trx, sweepId);
    const marked = new Set<string>(
      await markedContents(
        trx,
        sweepId,
        blobs.map((b) => b.sha256),
      ),
    );
    doomed = blobs.filter((b) => !marked.has(b.sha256));
    // Forgotten in the transaction that deletes them: a failed deletion rolls the forgetting back.
    await forgetBlobChecks(
      trx,
      doomed.map((b) => b.sha256),
    );
    await deleteKeys(
      s3,
      backupBucket,
      doomed.map((b) => b.key),
    );
  });
  return {
    startAfter: page.IsTruncated ? objects[objects.length - 1].Key! : null,
    deleted: doomed.length,
    bytesFreed: doomed.reduce((sum, b) => sum + b.size, 0),
  };
}

export async function clearSweep(db: Knex, sweepId: string): Promise<void> {
  await deleteSweepScratch(db, sweepId);
}
