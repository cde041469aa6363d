import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { UploadSessionRow } from '../lib/uploads/sessionRow';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { discardSessionBytes } from '../lib/uploads/sessionBytes';
import { deleteSessionsResultingIn, markSessionAborted, unfinishedSessionsOfAsset } from '../lib/uploads/store';
import { assetKeyPrefix } from '../lib/assets/keys';
import { deleteAssetRow, lockAsset, lockAssetRow, markAssetHiddenForDeletion, versionsWithObjectKeys } from '../lib/assets/store';
import { deleteKeys, withTicker } from '../lib/platform/storedObjects';
import { abortMultipartUpload, listIncompleteUploads } from '../lib/platform/multipart';
import { ApplicationFailure } from '@temporalio/common';
import { RETIRING_VERSION_COLUMNS, handOffToBackups, handoffDepsOf, markAssetPurging, type RetiringVersion } from '../lib/backups/handoff';
import { recordEvent } from '../lib/events/outbox';
import { latestEventAbout } from '../lib/events/store';
import type { ActivityDeps } from './deps';
import { auditWriterOf, runActorOf } from '../lib/audit/log';
import type { ActorRef } from '../workflows/shared/actor';
import { DeletionFailure, type KeptAsset, type PurgeCondition } from '../workflows/assets/definitions';

const BATCH = 500;
const UPLOADS_BATCH = 100;

/**
 * Why a lifecycle purge leaves the asset (its row locked) alone, or undefined when it goes on: the
 * asset is still soft-deleted since at most `purge.deletedBy`, or its deletion has begun already.
 */
function purgeRefused(
  asset: { id: string; is_deleted: boolean; deleted_at: Date | null; purging_since: Date | null },
  purge: PurgeCondition,
): string | undefined {
  if (asset.purging_since) return undefined;
  if (!asset.is_deleted) return `asset ${asset.id} was restored since the sweep picked it: not purged`;
  if (purge.deletedBy && asset.deleted_at! > new Date(purge.deletedBy)) return `asset ${asset.id} was deleted again since the sweep picked it: not purged yet`;
  return undefined;
}

/**
 * Soft-deletes (if it is not already) and records the permanent deletion, once. Marked purging
 * from here on (lib/backups/handoff.ts): a restore is refused, so no grant change, session or
 * commit takes the asset's row again before its rows go (the lock order of lib/assets/store.ts).
 * A lifecycle purge (`purge`) re-checks under the asset's lock that it is still a candidate: one its
 * owner restored since the sweep picked it is kept, and the deletion ends there.
 */
async function hideAssetForDeletion({ db, assetCache, logger }: ActivityDeps, assetId: string, purge?: PurgeCondition): Promise<KeptAsset | void> {
  const kept = await db.transaction(async (trx): Promise<string | undefined> => {
    const asset = await lockAsset(trx, assetId);
    if (!asset) return undefined;
    const refused = purge && purgeRefused(asset, purge);
    if (refused) return refused;
    await markAssetHiddenForDeletion(trx, asset);
    // Announced once per deletion: a retry finds its own event as the asset's latest one (an asset
    // restored after an earlier deletion has newer events, so deleting it again is announced again).
    const latest = await latestEventAbout(trx, assetId);
    const announced = latest?.type === 'storage.asset.deleted' && latest.data?.permanent === true;
    if (!announced) await recordEvent(trx, 'storage.asset.deleted', assetId, { asset_id: assetId, permanent: true });
    return undefined;
  });
  if (kept) {
    logger.info('purge skipped: the asset is no longer a candidate', { asset_id: assetId, reason: kept });
    return { kept };
  }
  await assetCache?.invalidate([assetId]);
}

/**
 * Deletes one batch of the asset's objects (versions and anything staged) and aborts a page of the
 * multipart uploads under its prefix; S3's listings are the truth. The asset is marked first and its versions' contents handed to running backups
 * (lib/backups/handoff.ts).
 */
async function deleteAssetObjects(deps: ActivityDeps, assetId: string): Promise<{ deleted: number; more: boolean }> {
  const { db, s3 } = deps;
  const bucket = deps.config.s3.bucket;
  await markAssetPurging(db, assetId);
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: assetKeyPrefix(assetId), MaxKeys: BATCH }));
  const keys = (page.Contents ?? []).map((o) => o.Key!);
  const versions = (await versionsWithObjectKeys(db, assetId, keys, RETIRING_VERSION_COLUMNS)) as RetiringVersion[];
  await handOffToBackups(handoffDepsOf(deps), versions);
  await deleteKeys(s3, bucket, keys);
  // Multipart uploads under the prefix that no session's discard reached (one at a key no row names: an
  // open killed between its CreateMultipartUpload and its row) hold parts the listing above does not show.
  const uploads = await listIncompleteUploads(s3, bucket, { prefix: assetKeyPrefix(assetId) });
  for (const upload of uploads.uploads) await abortMultipartUpload(s3, bucket, upload.key, upload.uploadId);
  return { deleted: keys.length, more: Boolean(page.IsTruncated) || uploads.next !== undefined };
}

/**
 * Ends a batch of the unfinished uploads of new versions of the asset: their bytes go (the
 * multipart upload is aborted, a staged object deleted) and their rows say aborted, before the
 * asset's rows take them away. Answers their workflows, which the deletion then tells to stop.
 */
async function abortAssetUploads({ config, db, s3 }: ActivityDeps, assetId: string): Promise<{ workflowIds: string[]; more: boolean }> {
  const sessions = (await unfinishedSessionsOfAsset(db, assetId, UPLOADS_BATCH + 1)) as UploadSessionRow[];
  const batch = sessions.slice(0, UPLOADS_BATCH);
  for (const session of batch) {
    await discardSessionBytes(s3, config.s3.bucket, session);
    await markSessionAborted(db, session.id, `asset ${assetId} was deleted`);
  }
  return { workflowIds: batch.map((session) => uploadWorkflowId(session.id)), more: sessions.length > UPLOADS_BATCH };
}

/**
 * The asset's rows go last: versions, metadata and the sessions of its later versions cascade;
 * the session that created it names it only as its result. `actor` is whom the deletion acts for
 * (runs begun before runs carried it pass none: the system).
 */
async function deleteAssetRows({ config, db, assetCache }: ActivityDeps, assetId: string, actor?: ActorRef): Promise<void> {
  const audit = auditWriterOf(config.audit.enabled);
  await db.transaction(async (trx) => {
    // The asset's row before its sessions', as every other transaction takes them.
    await lockAssetRow(trx, assetId);
    await deleteSessionsResultingIn(trx, assetId);
    const deleted = await deleteAssetRow(trx, assetId);
    if (deleted) {
      const requestId = Context.current().info.workflowExecution?.workflowId;
      await audit(trx, { actor: runActorOf({ actor }), action: 'asset.purge', outcome: 'completed', subjects: { asset_id: assetId }, requestId });
    }
  });
  await assetCache?.invalidate([assetId]);
}

// What S3 answers when the bucket itself is refused: a configuration no retry changes.
const STORE_REFUSALS = new Set(['AccessDenied', 'NoSuchBucket', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);

/**
 * Runs a deletion step heartbeating every few seconds (its workflow's heartbeat timeout is 20 s), so a
 * worker that dies mid-step is noticed at once, however long its S3 calls or its locks take; the
 * store refusing the bucket fails it for good.
 */
async function beating<T>(step: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  try {
    return await withTicker(() => ctx.heartbeat(), step);
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name && STORE_REFUSALS.has(name)) throw ApplicationFailure.nonRetryable(`the store refused: ${(err as Error).message}`, DeletionFailure.storeRefused);
    throw err;
  }
}

export function createAssetDeletionActivities(deps: ActivityDeps) {
  return {
    hideAssetForDeletion: (assetId: string, purge?: PurgeCondition) => beating(() => hideAssetForDeletion(deps, assetId, purge)),
    deleteAssetObjects: (assetId: string) => beating(() => deleteAssetObjects(deps, assetId)),
    abortAssetUploads: (assetId: string) => beating(() => abortAssetUploads(deps, assetId)),
    deleteAssetRows: (assetId: string, actor?: ActorRef) => beating(() => deleteAssetRows(deps, assetId, actor)),
  };
}

export type AssetDeletionActivities = ReturnType<typeof createAssetDeletionActivities>;
