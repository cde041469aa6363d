import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import type { UploadSessionRow } from '../lib/uploads/sessionRow';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { discardSessionBytes } from '../lib/uploads/sessionBytes';
import { assetKeyPrefix } from '../lib/assets/keys';
import { deleteKeys } from '../lib/platform/storedObjects';
import { RETIRING_VERSION_COLUMNS, handOffToBackups, handoffDepsOf, markAssetPurging } from '../lib/backups/handoff';
import { recordEvent } from '../lib/events/outbox';
import type { ActivityDeps } from './deps';
import { auditWriterOf, runActorOf } from '../lib/audit/log';
import type { ActorRef } from '../workflows/shared/actor';

const BATCH = 500;
const UPLOADS_BATCH = 100;

export function createAssetDeletionActivities(deps: ActivityDeps) {
  const { config, db, s3, assetCache } = deps;
  const bucket = config.s3.bucket;
  const handoff = handoffDepsOf(deps);
  const audit = auditWriterOf(config.audit.enabled);
  return {
    /**
     * Soft-deletes (if it is not already) and records the permanent deletion, once. Marked purging
     * from here on (lib/backups/handoff.ts): a restore is refused, so no grant change, session or
     * commit takes the asset's row again before its rows go (the lock order of lib/uploads/sessionAccess.ts).
     */
    async hideAssetForDeletion(assetId: string): Promise<void> {
      await db.transaction(async (trx) => {
        const asset = await trx('assets').where({ id: assetId }).forUpdate().first();
        if (!asset) return;
        await trx('assets')
          .where({ id: assetId })
          .update({
            is_deleted: true,
            deleted_at: asset.deleted_at ?? trx.fn.now(),
            purging_since: asset.purging_since ?? trx.fn.now(),
            revision: asset.revision + 1,
          });
        // Announced once per deletion: a retry finds its own event as the asset's latest one (an asset
        // restored after an earlier deletion has newer events, so deleting it again is announced again).
        const latest = await trx('outbox_events').where({ subject: assetId }).orderBy('sequence', 'desc').first();
        const announced = latest?.type === 'storage.asset.deleted' && latest.data?.permanent === true;
        if (!announced) await recordEvent(trx, 'storage.asset.deleted', assetId, { asset_id: assetId, permanent: true });
      });
      await assetCache?.invalidate([assetId]);
    },

    /**
     * Deletes one batch of the asset's objects (versions and anything staged); S3's listing is the
     * truth. The asset is marked first and its versions' contents handed to running backups
     * (lib/backups/handoff.ts).
     */
    async deleteAssetObjects(assetId: string): Promise<{ deleted: number; more: boolean }> {
      await markAssetPurging(db, assetId);
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: assetKeyPrefix(assetId), MaxKeys: BATCH }));
      const keys = (page.Contents ?? []).map((o) => o.Key!);
      const versions = await db('asset_versions')
        .where({ asset_id: assetId })
        .whereIn('object_key', keys)
        .select(...RETIRING_VERSION_COLUMNS);
      await handOffToBackups(handoff, versions);
      await deleteKeys(s3, bucket, keys);
      return { deleted: keys.length, more: Boolean(page.IsTruncated) };
    },

    /**
     * Ends a batch of the unfinished uploads of new versions of the asset: their bytes go (the
     * multipart upload is aborted, a staged object deleted) and their rows say aborted, before the
     * asset's rows take them away. Answers their workflows, which the deletion then tells to stop.
     */
    async abortAssetUploads(assetId: string): Promise<{ workflowIds: string[]; more: boolean }> {
      const sessions = (await db('upload_sessions')
        .where({ asset_id: assetId })
        .whereIn('status', ['open', 'completing'])
        .orderBy('id')
        .limit(UPLOADS_BATCH + 1)) as UploadSessionRow[];
      const batch = sessions.slice(0, UPLOADS_BATCH);
      for (const session of batch) {
        await discardSessionBytes(s3, bucket, session);
        await db('upload_sessions')
          .where({ id: session.id })
          .update({ status: 'aborted', error: `asset ${assetId} was deleted` });
      }
      return { workflowIds: batch.map((session) => uploadWorkflowId(session.id)), more: sessions.length > UPLOADS_BATCH };
    },

    /**
     * The asset's rows go last: versions, metadata and the sessions of its later versions cascade;
     * the session that created it names it only as its result. `actor` is whom the deletion acts for
     * (runs begun before runs carried it pass none: the system).
     */
    async deleteAssetRows(assetId: string, actor?: ActorRef): Promise<void> {
      await db.transaction(async (trx) => {
        // The asset's row before its sessions', as every other transaction takes them.
        await trx('assets').where({ id: assetId }).forUpdate().first('id');
        await trx('upload_sessions').where({ result_asset_id: assetId }).delete();
        const deleted = await trx('assets').where({ id: assetId }).delete();
        if (deleted) {
          const requestId = Context.current().info.workflowExecution?.workflowId;
          await audit(trx, { actor: runActorOf({ actor }), action: 'asset.purge', outcome: 'completed', subjects: { asset_id: assetId }, requestId });
        }
      });
      await assetCache?.invalidate([assetId]);
    },
  };
}

export type AssetDeletionActivities = ReturnType<typeof createAssetDeletionActivities>;
