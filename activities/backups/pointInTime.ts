/**
 * The activities of a restore to a point in time (lib/backups/pointInTime.ts says what it does). A step
 * takes a page of the assets the filter matches, by id, and plans each one that has no item yet: one
 * that needs no write (unchanged, skipped), or every one in a dry run, gets its item at once; one that
 * needs a new version comes back to the workflow with the copy upload that makes it (its ids derived
 * from the restore and the asset, so a retried step names the same upload), whose outcome
 * `recordPointInTimeWrite` then records. An asset is dealt with once: its item is looked for first, and
 * an upload that exists already is not started again.
 */
import { Context } from '@temporalio/activity';
import type { Knex } from 'knex';
import { restoreAsset as undeleteAsset } from '../../lib/assets/assets';
import { assetNow, filteredAssetCount, filteredAssetIds } from '../../lib/assets/store/pointInTime';
import { pausePoint } from '../../lib/assets/pausePoints';
import { runActorOf, writeAudit, type AuditTrail } from '../../lib/audit/log';
import { restoreAuditRowExists } from '../../lib/audit/store';
import {
  beginJob,
  failedRestoreItems,
  getRestore,
  restoreItemCounts,
  restoreProgressOf,
  type JobStatus,
  type RestoreProgress,
} from '../../lib/backups/catalog';
import { blobKeyFor } from '../../lib/backups/catalog';
import type { PointInTimeRow } from '../../lib/backups/jobRows';
import { itemOf, planAssets, type Plan } from '../../lib/backups/pointInTime';
import { finishRestoreRow, saveJobProgress } from '../../lib/backups/store';
import { insertPointInTimeItem, pointInTimeItemOf, type PointInTimeItemRow } from '../../lib/backups/store/pointInTime';
import { ConflictError } from '../../lib/platform/errors';
import { uuidFromName } from '../../lib/platform/ids';
import { newUploadInput } from '../../lib/uploads/input';
import { findUploadSession } from '../../lib/uploads/store';
import type { PointInTimeStep, PointInTimeWrite } from '../../workflows/backups/pointInTimeDefinitions';
import type { UploadContent } from '../../workflows/uploads/definitions';
import type { ActivityDeps } from '../deps';
import { permanent } from './common';

/** The audit action of an undelete, written in its transaction: how a retried attempt knows of it. */
const UNDELETE_ACTION = 'restore.undelete';

/** Assets planned per step: a step's writes come back to the workflow as one payload. */
const PAGE = 25;

export function createPointInTimeActivities(deps: ActivityDeps) {
  return {
    beginPointInTimeRestore: (restoreId: string) => beginPointInTimeRestore(deps, restoreId),
    pointInTimeStep: (input: { restoreId: string; after: string | null }) => pointInTimeStep(deps, input),
    recordPointInTimeWrite: (write: RecordedWrite) => recordPointInTimeWrite(deps, write),
    finishPointInTimeRestore: (restoreId: string) => finishPointInTimeRestore(deps, restoreId),
  };
}

export type PointInTimeActivities = ReturnType<typeof createPointInTimeActivities>;

/** What the workflow tells of a write once its upload has ended: the restore, the asset, its upload and its planned item. */
export type RecordedWrite = { restoreId: string; uploadError?: string } & Omit<PointInTimeWrite, 'upload'>;

async function restoreRow(db: Knex, restoreId: string): Promise<PointInTimeRow> {
  return (await permanent(() => getRestore(db, restoreId))) as unknown as PointInTimeRow;
}

async function progressOf(db: Knex, row: PointInTimeRow): Promise<RestoreProgress> {
  return { assets_total: restoreProgressOf(row.progress).assets_total, ...(await restoreItemCounts(db, row.id)) };
}

/** Marks the restore running (once) and counts the assets its filter matches now. */
async function beginPointInTimeRestore({ db }: ActivityDeps, restoreId: string): Promise<{ status: JobStatus }> {
  const row = (await permanent(() => beginJob(db, restoreId, 'restore'))) as unknown as PointInTimeRow;
  if (row.status !== 'running') return { status: row.status };
  const total = await filteredAssetCount(db, row.scope.filter);
  await saveJobProgress(db, restoreId, { ...(await progressOf(db, row)), assets_total: total });
  return { status: 'running' };
}

async function pointInTimeStep(deps: ActivityDeps, input: { restoreId: string; after: string | null }): Promise<PointInTimeStep> {
  const { db, config } = deps;
  const ctx = Context.current();
  const row = await restoreRow(db, input.restoreId);
  const ids = await filteredAssetIds(db, row.scope.filter, input.after, PAGE);
  const open: string[] = [];
  for (const id of ids) if (!(await pointInTimeItemOf(db, row.id, id))) open.push(id);
  const asOf = new Date(row.scope.as_of);
  const beat = () => ctx.heartbeat({ after: input.after });
  const plans = await planAssets({ db, s3: deps.s3, bucket: config.s3.backupBucket, signal: ctx.cancellationSignal, beat }, asOf, open);
  const writes: PointInTimeWrite[] = [];
  for (const [assetId, plan] of plans) {
    ctx.heartbeat({ assetId });
    const write = await dealWith(deps, row, assetId, plan);
    if (write) writes.push(write);
  }
  return { writes, next: ids.length < PAGE ? null : ids[ids.length - 1], progress: await progressOf(db, row) };
}

/** Records the asset's item, or answers the write that makes its new version (after bringing it back if deleted). */
async function dealWith(deps: ActivityDeps, row: PointInTimeRow, assetId: string, plan: Plan): Promise<PointInTimeWrite | undefined> {
  const dryRun = row.scope.dry_run ?? false;
  if (!dryRun && 'undelete' in plan && plan.undelete) await undelete(deps, row, assetId);
  const item = itemOf(assetId, plan, { dryRun });
  // An attempt that died after its undelete left the asset live: this one plans no undelete, but it was one.
  if (!dryRun && !item.undeleted && (await restoreAuditRowExists(deps.db, UNDELETE_ACTION, assetId, row.id))) item.undeleted = true;
  if (dryRun || (plan.source !== 'version' && plan.source !== 'backup')) {
    await insertPointInTimeItem(deps.db, row.id, item);
    return undefined;
  }
  const uploadId = uuidFromName(`point-in-time-restore:${row.id}:${assetId}:upload`);
  // Its upload exists already (a step retried after the workflow started it): only its outcome is left to record.
  if (await findUploadSession(deps.db, uploadId)) return { assetId, uploadId, upload: null, item };
  const content: UploadContent =
    plan.source === 'version'
      ? {
          kind: 'copy',
          name: '',
          contentType: plan.version.content_type,
          sizeBytes: plan.version.size_bytes,
          checksumSha256: plan.version.checksum_sha256,
          copyFromKey: plan.version.object_key,
        }
      : {
          kind: 'copy',
          name: '',
          contentType: plan.hit.version.content_type,
          sizeBytes: plan.hit.version.size_bytes,
          checksumSha256: plan.hit.version.checksum_sha256,
          copyFromKey: blobKeyFor(plan.hit.version.checksum_sha256),
          copyFromBucket: 'backup',
        };
  const actor = runActorOf(row);
  const ids = { uploadId, versionId: uuidFromName(`point-in-time-restore:${row.id}:${assetId}:version`), newAssetId: assetId };
  // The restore runs for an admin (the route's rule): the commit checks the write basis `any` again.
  const upload = newUploadInput(deps.config, { ...content, name: await currentName(deps.db, assetId) }, { id: assetId, writeBasis: 'any' }, actor.sub, ids);
  await pausePoint('point-in-time-planned', [assetId]);
  return { assetId, uploadId, upload: { ...upload, actor }, item };
}

async function currentName(db: Knex, assetId: string): Promise<string> {
  return (await assetNow(db, assetId))?.name ?? assetId;
}

/** Brings back an asset soft-deleted after as_of, with its event and audit row; one live already is left as it is. */
async function undelete({ db, assetCache }: ActivityDeps, row: PointInTimeRow, assetId: string): Promise<void> {
  const trail: AuditTrail = {
    record: (trx) =>
      writeAudit(trx, {
        actor: runActorOf(row),
        action: UNDELETE_ACTION,
        outcome: 'completed',
        subjects: { asset_id: assetId, restore_id: row.id },
        requestId: row.workflow_id,
      }),
  };
  try {
    await undeleteAsset(db, assetId, trail);
  } catch (err) {
    // Undeleted by an earlier attempt of this step (or by someone meanwhile): live is what was wanted.
    if (!(err instanceof ConflictError) || !/is not deleted/.test(err.message)) throw err;
  }
  await assetCache?.invalidate([assetId]);
}

/** Records what the asset's copy upload made: its version, or why it failed. */
async function recordPointInTimeWrite({ db }: ActivityDeps, write: RecordedWrite): Promise<RestoreProgress> {
  const row = await restoreRow(db, write.restoreId);
  const session = await findUploadSession(db, write.uploadId);
  let item: PointInTimeItemRow;
  if (session?.status === 'completed') {
    item = { ...write.item, status: 'restored', version_id: session.version_id, bytes_copied: Number(session.size_bytes) };
  } else {
    const why = session?.error ?? write.uploadError ?? `its upload ${write.uploadId} ${session ? `is ${session.status}` : 'was never opened'}`;
    item = { ...write.item, status: 'failed', error: `not restored: ${why}` };
  }
  await insertPointInTimeItem(db, row.id, item);
  return progressOf(db, row);
}

/** Completes the restore, or fails it naming the assets it could not restore. */
async function finishPointInTimeRestore(
  { db, logger }: ActivityDeps,
  restoreId: string,
): Promise<{ status: JobStatus; progress: RestoreProgress; error: string | null }> {
  const row = await restoreRow(db, restoreId);
  const progress = await progressOf(db, row);
  progress.assets_total = Math.max(progress.assets_total, progress.assets_done);
  let error: string | null = null;
  if (progress.assets_failed > 0) {
    const failed = await failedRestoreItems(db, restoreId, 20);
    error =
      `${progress.assets_failed} of ${progress.assets_done} assets could not be restored: ` + failed.map((f) => `asset ${f.asset_id}: ${f.error}`).join('; ');
  }
  await finishRestoreRow(db, restoreId, error ? 'failed' : 'completed', error, progress);
  const done = await getRestore(db, restoreId);
  logger.info('point-in-time restore finished', { restore_id: restoreId, status: done.status, ...progress });
  return { status: done.status, progress: restoreProgressOf(done.progress), error: done.error };
}
