/**
 * The hand-off: how a backup completes while the contents it still has to copy are deleted. It owns
 * the order every deletion of a version's object follows, and the lock order with retention.
 *
 * The paths that delete versions' objects: the permanent deletion of an asset (deleteAssetWorkflow,
 * which lib/assets/deletionRuns.ts starts and lifecycle purges run as children), a prune past
 * STORAGE_MAX_VERSIONS after an upload's commit, a lifecycle version expiry, an overwrite restore.
 * Each goes, in this order:
 *
 *   1. Mark, and commit: the versions' `deleting_since` (`markVersionsDeleting`), or for a whole asset
 *      its `purging_since` (`markAssetPurging`). A snapshot that sees the mark leaves the version (the
 *      asset) out, as if its deletion were done.
 *   2. Look for backups taking hand-offs: running, with a live lease (`handoff_until`).
 *   3. Hand off: for each content such a backup may hold (its scope names the asset), record the
 *      hand-off (`backup_handoffs`), then make sure the backup bucket holds the content at its address,
 *      copied there (server-side) if it does not. The copy is marked `handed-off-from`: the backup
 *      hashes it before it counts it, as it hashes any source (activities/backups/backup.ts).
 *   4. Delete the objects; then the caller deletes the rows.
 *
 * A backup takes its lease (`renewHandoffLease`, committed) before its snapshot begins, renews it
 * while it runs and drops it when it ends. So a version that a snapshot holds and whose deletion has
 * begun was marked after the snapshot began, hence after the lease: step 2 of that deletion sees the
 * backup, and the content is at its address before the object goes. Nothing waits for a backup: while
 * one runs, a deletion costs one server-side copy per content the backup bucket does not hold yet.
 *
 * Locks, each alone in its own short transaction, none held across an S3 call:
 *   - marking takes the version rows in id order (the asset row for a purge);
 *   - recording a hand-off takes the blob lock of lib/backups/retention.ts shared; the retention sweep
 *     takes it exclusively around each page of deletions and first marks what live backups were handed
 *     (`markHandedOff`), so a content handed off is never swept from under a running backup;
 *   - the rows' deletion afterwards locks assets in id order, then usage (lib/assets/versions.ts).
 *
 * Bounds: a backup that died stops taking hand-offs when its lease lapses, HANDOFF_LEASE_MS after its
 * last renewal; from then on retention no longer keeps what it was handed (unless a manifest names it)
 * and deletions cost nothing more. A backup resumed after its lease lapsed may find a source gone and
 * fail; the schedule takes it again (workflows/backups/backup.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { blobKeyFor } from './catalog';
import { type BackupScope } from './jobRows';
import { markAssetRowPurging, markVersionRowsDeleting } from '../assets/store';
import { backupsTakingHandoffs, clearLease, deleteEndedHandoffs, insertHandoffs, markHandedOffContents, renewLeaseRow, takeBlobLockShared } from './store';
import { mapLimit } from '../platform/concurrency';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { copyObject, deleteKeys, headObject, isNotFound } from '../platform/storedObjects';

/** How long a backup takes hand-offs after its last renewal. */
export const HANDOFF_LEASE_MS = 10 * 60_000;
/** A running backup renews its lease at most this often. */
const RENEW_EVERY_MS = 30_000;
/** Contents handed off at once. */
const HANDOFF_WIDTH = 4;

/** The S3 metadata a handed-off blob carries: the version it was copied from, until a backup has checked it. */
export const HANDED_OFF_FROM = 'handed-off-from';

export interface HandoffDeps {
  db: Knex;
  s3: S3Client;
  assetBucket: string;
  backupBucket: string;
  logger: Logger;
}

export function handoffDepsOf(deps: { config: Pick<Config, 's3'>; db: Knex; s3: S3Client; logger: Logger }): HandoffDeps {
  return { db: deps.db, s3: deps.s3, assetBucket: deps.config.s3.bucket, backupBucket: deps.config.s3.backupBucket, logger: deps.logger };
}

/** A version whose object is about to be deleted. */
export interface RetiringVersion {
  id: string;
  asset_id: string;
  object_key: string;
  checksum_sha256: string;
  size_bytes: number;
}

export const RETIRING_VERSION_COLUMNS = ['id', 'asset_id', 'object_key', 'checksum_sha256', 'size_bytes'] as const;

/** Step 1 for versions: from this commit on, no snapshot holds them. */
export async function markVersionsDeleting(db: Knex, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await markVersionRowsDeleting(db, ids);
}

/** Step 1 for a whole asset: from this commit on, no snapshot holds it. */
export async function markAssetPurging(db: Knex, assetId: string): Promise<void> {
  await markAssetRowPurging(db, assetId);
}

interface LiveBackup {
  id: string;
  scope: BackupScope;
}

/**
 * Steps 2 and 3: every content of `versions` that a live backup may hold is at its address in the
 * backup bucket when this returns. `onContent` is called after each one (the caller heartbeats).
 */
export async function handOffToBackups(deps: HandoffDeps, versions: RetiringVersion[], onContent: () => void = () => {}): Promise<void> {
  if (versions.length === 0) return;
  const live = await backupsTakingHandoffs<LiveBackup>(deps.db);
  const contents = new Map<string, { sha256: string; sizeBytes: number; sources: RetiringVersion[]; backups: Set<string> }>();
  for (const v of versions) {
    for (const backup of live) {
      if (backup.scope.asset_ids && !backup.scope.asset_ids.includes(v.asset_id)) continue;
      const content = contents.get(v.checksum_sha256) ?? { sha256: v.checksum_sha256, sizeBytes: v.size_bytes, sources: [], backups: new Set<string>() };
      if (!content.sources.includes(v)) content.sources.push(v);
      content.backups.add(backup.id);
      contents.set(v.checksum_sha256, content);
    }
  }
  if (contents.size === 0) return;
  const records = [...contents.values()].flatMap((c) => [...c.backups].map((backupId) => ({ backup_id: backupId, sha256: c.sha256 })));
  await deps.db.transaction(async (trx) => {
    await takeBlobLockShared(trx);
    await insertHandoffs(trx, records);
  });
  await mapLimit([...contents.values()], HANDOFF_WIDTH, async (content) => {
    await handOff(deps, content);
    onContent();
  });
}

async function handOff(deps: HandoffDeps, content: { sha256: string; sizeBytes: number; sources: RetiringVersion[] }): Promise<void> {
  const to = { bucket: deps.backupBucket, key: blobKeyFor(content.sha256) };
  const there = await headObject(deps.s3, to);
  if (there && there.sizeBytes === content.sizeBytes) return;
  for (const source of content.sources) {
    try {
      await copyObject(deps.s3, { bucket: deps.assetBucket, key: source.object_key }, to, {
        sizeBytes: content.sizeBytes,
        metadata: { sha256: content.sha256, [HANDED_OFF_FROM]: source.id },
      });
      deps.logger.info('content handed to running backups', { sha256: content.sha256, asset_id: source.asset_id, version_id: source.id });
      return;
    } catch (err) {
      // Gone already: an earlier attempt of this deletion handed it off before it deleted it.
      if (!isNotFound(err)) throw err;
    }
  }
}

/** Steps 1 to 4 for versions whose rows the caller deletes next. */
export async function deleteVersionObjects(deps: HandoffDeps, versions: RetiringVersion[], onContent?: () => void): Promise<void> {
  await markVersionsDeleting(
    deps.db,
    versions.map((v) => v.id),
  );
  await handOffToBackups(deps, versions, onContent);
  await deleteKeys(
    deps.s3,
    deps.assetBucket,
    versions.map((v) => v.object_key),
  );
}

// ---------------------------------------------------------------------------------------------
// The backup's side

/** Takes or renews the backup's lease, while it runs. Committed before its snapshot begins. */
export async function renewHandoffLease(db: Knex, backupId: string): Promise<void> {
  await renewLeaseRow(db, backupId, HANDOFF_LEASE_MS / 1000);
}

/** For a long step's heartbeat: renews the lease at most every RENEW_EVERY_MS, without waiting. */
export function leaseKeeper(db: Knex, backupId: string, logger: Logger): () => void {
  let last = Date.now();
  let renewing = false;
  return () => {
    if (renewing || Date.now() - last < RENEW_EVERY_MS) return;
    renewing = true;
    last = Date.now();
    renewHandoffLease(db, backupId)
      .catch((err) => logger.warn('backup lease not renewed', { backup_id: backupId, error: (err as Error).message }))
      .finally(() => (renewing = false));
  };
}

/** The backup ended: it takes no more hand-offs, and the records of every backup that ended go. */
export async function endHandoffs(db: Knex | Knex.Transaction, backupId: string): Promise<void> {
  await clearLease(db, backupId);
  await deleteEndedHandoffs(db);
}

// ---------------------------------------------------------------------------------------------
// Retention's side

/** Under the exclusive blob lock: marks for the sweep every content handed to a backup still taking hand-offs. */
export async function markHandedOff(trx: Knex.Transaction, sweepId: string): Promise<void> {
  await markHandedOffContents(trx, sweepId);
}
