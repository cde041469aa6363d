/**
 * Restore activities: the manifest checked against the SHA-256 its backup recorded, then asset by
 * asset each needed blob copied back to its version's key and hashed there, and the rows re-created
 * (lib/backups/restore.ts). A blob that is missing or corrupt fails its asset alone: nothing of the
 * live asset is touched, what this restore wrote for it is removed, and the restore goes on. After the
 * assets, a restore of every asset brings back the manifest's records the catalog lacks (policies,
 * quotas, history, audit log: lib/backups/records.ts), a page at a time, in the same steps.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  blobKeyFor,
  beginJob,
  failJob,
  failedRestoreItems,
  getBackup,
  getRestore,
  restoreItemCounts,
  restoreProgressOf,
  type BackupRow,
  type JobStatus,
  type RestoreMode,
  type RestoreProgress,
  type RestoreRow,
} from '../../lib/backups/catalog';
import { ManifestCorruptError, hashManifest, readManifestLines, type AssetLine, type VersionLine } from '../../lib/backups/manifest';
import { manifestChecker } from '../../lib/backups/manifestChecks';
import { copyObject, deleteKeys, hashObject, headObject, isNotFound, withTicker, type CopyLimits } from '../../lib/platform/storedObjects';
import { commitRestoredAsset, itemDone, liveStateOf, recordItem, versionsToRemove, versionsToRestore, type LiveVersion } from '../../lib/backups/restore';
import { BackupFailure, type BackupTuning } from '../../workflows/backups/definitions';
import { copyLimitsOf, DEFAULT_STEP_BUDGET_MS, permanent } from './common';
import { restoreRecords, type RecordTable } from '../../lib/backups/records';
import type { ActivityDeps } from '../deps';
import { auditWriterOf } from '../../lib/audit/log';
import { deleteVersionObjects, handoffDepsOf } from '../../lib/backups/handoff';

/** Why one asset cannot be restored; the restore records it and goes on. */
class AssetRestoreFailure extends Error {}

const RECORD_PAGE = 500;

interface RecordPage {
  table: RecordTable;
  rows: Array<Record<string, unknown>>;
  /** Byte offset just after the page's last line. */
  end: number;
}

interface AssetGroup {
  asset: AssetLine;
  versions: VersionLine[];
  /** Byte offset just after the group's last line. */
  end: number;
}

export function createRestoreActivities(deps: ActivityDeps) {
  const { config, db, s3, logger, assetCache } = deps;
  const assetBucket = config.s3.bucket;
  const handoff = handoffDepsOf(deps);
  const backupBucket = config.s3.backupBucket;
  const audit = auditWriterOf(config.audit.enabled);

  async function backupOf(restore: RestoreRow): Promise<BackupRow & { manifest_key: string; manifest_size_bytes: number; blobs_offset: number }> {
    const backup = await getBackup(db, restore.backup_id);
    if (backup.removed_at || !backup.manifest_key || backup.manifest_size_bytes === null || backup.blobs_offset === null) {
      throw ApplicationFailure.create({
        type: BackupFailure.notFound,
        message: `backup ${backup.id} has no manifest to restore from${backup.removed_at ? ' (removed by retention)' : ''}`,
        nonRetryable: true,
      });
    }
    return backup as BackupRow & { manifest_key: string; manifest_size_bytes: number; blobs_offset: number };
  }

  /** The backup's versions whose live row holds the same content at the same key, but whose object is missing. */
  async function objectsLost(versions: VersionLine[], live: LiveVersion[], signal: AbortSignal): Promise<VersionLine[]> {
    const liveById = new Map(live.map((v) => [v.id, v]));
    const lost: VersionLine[] = [];
    for (const v of versions) {
      const lv = liveById.get(v.id);
      if (!lv || lv.checksum_sha256 !== v.checksum_sha256 || lv.object_key !== v.object_key) continue;
      if (!(await headObject(s3, { bucket: assetBucket, key: v.object_key }, signal))) lost.push(v);
    }
    return lost;
  }

  /**
   * Brings one asset back. Answers nothing: the outcome is the asset's restore item, written once.
   */
  async function restoreAsset(restore: RestoreRow, group: AssetGroup, limits: CopyLimits, signal: AbortSignal, beat: () => void): Promise<void> {
    const { asset } = group;
    const mode: RestoreMode = restore.mode;
    const live = await liveStateOf(db, asset.id);
    // missing mode checks the store too: a version whose row is there may have lost its object.
    const repaired = mode === 'missing' ? await objectsLost(group.versions, live.versions, signal) : [];
    if (mode === 'missing' && live.asset && !live.asset.is_deleted && repaired.length === 0) {
      await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
      return;
    }
    const liveById = new Map(live.versions.map((v) => [v.id, v]));
    const wanted = [...versionsToRestore(mode, group.versions, live.versions), ...repaired];
    const item = { objects_copied: 0, bytes_done: 0, bytes_copied: 0 };
    /** Keys this restore wrote that no live row used before: removed again if the asset fails. */
    const written: string[] = [];
    try {
      for (const v of wanted) {
        const target = { bucket: assetBucket, key: v.object_key };
        const blob = { bucket: backupBucket, key: blobKeyFor(v.checksum_sha256) };
        const lv = liveById.get(v.id);
        const present = await headObject(s3, target, signal);
        if (lv && lv.checksum_sha256 === v.checksum_sha256 && present && present.sizeBytes === v.size_bytes && present.metadata['restore-id'] !== restore.id) {
          // The live object of this very version: immutable, already in place. (One this restore
          // copied in an attempt that was cut short is checked below like any copy.)
          item.bytes_done += v.size_bytes;
          continue;
        }
        const label = `version ${v.version_number} (${v.id})`;
        const ours = present?.metadata['restore-id'] === restore.id && present.sizeBytes === v.size_bytes;
        if (!ours) {
          const stored = await headObject(s3, blob, signal);
          if (!stored) throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is missing from the backup store`);
          if (lv && present) {
            // A live row's object is overwritten only by bytes checked first.
            const got = await hashObject(s3, blob, { signal, onBytes: beat });
            if (got.sha256 !== v.checksum_sha256)
              throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is corrupt: it hashes to ${got.sha256}, the manifest says ${v.checksum_sha256}`);
          }
          if (!present || !lv) written.push(target.key);
          await withTicker(beat, () =>
            copyObject(s3, blob, target, {
              sizeBytes: v.size_bytes,
              metadata: { 'restore-id': restore.id },
              contentType: v.content_type,
              limits,
              signal,
              onPart: beat,
            }).catch((err) => {
              if (isNotFound(err)) throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is missing from the backup store`);
              throw err;
            }),
          );
        } else if (!lv) {
          written.push(target.key);
        }
        const got = await hashObject(s3, target, { signal, onBytes: beat });
        if (got.sha256 !== v.checksum_sha256 || got.sizeBytes !== v.size_bytes) {
          throw new AssetRestoreFailure(
            `${label}: its blob ${blob.key} is corrupt: the restored bytes hash to ${got.sha256} (${got.sizeBytes} bytes), the manifest says ${v.checksum_sha256} (${v.size_bytes} bytes)`,
          );
        }
        item.objects_copied += 1;
        item.bytes_copied += v.size_bytes;
        item.bytes_done += v.size_bytes;
        beat();
      }
    } catch (err) {
      if (!(err instanceof AssetRestoreFailure)) throw err;
      await deleteKeys(s3, assetBucket, written);
      logger.warn('asset not restored', { restore_id: restore.id, asset_id: asset.id, error: err.message });
      await recordItem(db, restore.id, asset.id, { status: 'failed', error: err.message });
      return;
    }
    // Overwrite: the versions the backup does not hold go, objects first (a crash between leaves rows
    // whose objects are gone, which the retry removes: never an object without its row).
    const removed = versionsToRemove(mode, group.versions, live.versions);
    await deleteVersionObjects(
      handoff,
      removed.map((v) => ({ ...v, asset_id: asset.id })),
      beat,
    );
    const outcome = await commitRestoredAsset(
      db,
      {
        restoreId: restore.id,
        backupId: restore.backup_id,
        mode,
        asset,
        versions: mode === 'overwrite' ? group.versions : wanted,
        removed: removed.map((v) => v.id),
        repaired: repaired.map((v) => v.id),
        item,
        job: restore,
      },
      audit,
    );
    // Also when an earlier attempt had committed it: that attempt may have stopped before this line.
    await assetCache?.invalidate([asset.id]);
    if (!outcome.done && outcome.reason === 'live') {
      // Brought back by someone else meanwhile (missing mode): live assets are left alone.
      await deleteKeys(s3, assetBucket, written);
      await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
    }
  }

  async function progressOf(restoreId: string, assetsTotal: number): Promise<RestoreProgress> {
    return { assets_total: assetsTotal, ...(await restoreItemCounts(db, restoreId)) };
  }

  return {
    /**
     * Marks the restore running and checks its manifest whole: present, of the SHA-256 and size its
     * backup recorded. Assets asked for that the backup does not hold fail at once. Answers where the
     * asset lines are and how many assets the restore deals with.
     */
    async beginRestore(restoreId: string): Promise<{ status: JobStatus; cursor: number; end: number; assetsTotal: number }> {
      const ctx = Context.current();
      const row = (await permanent(() => beginJob(db, restoreId, 'restore'))) as RestoreRow;
      if (row.status !== 'running') return { status: row.status, cursor: 0, end: 0, assetsTotal: restoreProgressOf(row.progress).assets_total };
      const backup = await permanent(() => backupOf(row));
      const manifest = { bucket: backupBucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
      const wanted = row.scope.asset_ids ? new Set(row.scope.asset_ids) : undefined;
      const found = new Set<string>();
      let cursor = -1;
      let inScope = 0;
      let lines = 0;
      const checked = await permanent(async () => {
        try {
          return await hashManifest(
            s3,
            manifest,
            ({ line, end }) => {
              if (++lines % 1000 === 0) ctx.heartbeat({ lines });
              if (line.type === 'header') {
                if (line.backup_id !== backup.id) throw new ManifestCorruptError(`manifest ${manifest.key} is the manifest of backup ${line.backup_id}`);
                cursor = end;
              } else if (line.type === 'asset' && (!wanted || wanted.has(line.id))) {
                inScope++;
                found.add(line.id);
              }
            },
            ctx.cancellationSignal,
          );
        } catch (err) {
          if (isNotFound(err)) throw new ManifestCorruptError(`manifest ${manifest.key} of backup ${backup.id} is missing from the backup store`);
          throw err;
        }
      });
      if (checked.sha256 !== backup.manifest_sha256 || checked.sizeBytes !== backup.manifest_size_bytes) {
        throw ApplicationFailure.create({
          type: BackupFailure.manifestCorrupt,
          message: `manifest ${manifest.key} is corrupt: it hashes to ${checked.sha256} (${checked.sizeBytes} bytes), backup ${backup.id} recorded ${backup.manifest_sha256} (${backup.manifest_size_bytes} bytes)`,
          nonRetryable: true,
        });
      }
      if (cursor < 0)
        throw ApplicationFailure.create({ type: BackupFailure.manifestCorrupt, message: `manifest ${manifest.key} has no header`, nonRetryable: true });
      for (const id of wanted ?? []) {
        if (!found.has(id)) await recordItem(db, restoreId, id, { status: 'failed', error: `asset ${id} is not in backup ${backup.id}` });
      }
      const assetsTotal = wanted ? wanted.size : inScope;
      const progress = await progressOf(restoreId, assetsTotal);
      await db('backup_jobs')
        .where({ id: restoreId })
        .update({ progress: JSON.stringify(progress) });
      return { status: 'running', cursor, end: backup.blobs_offset, assetsTotal };
    },

    /**
     * Restores the assets whose lines start at byte `cursor`, until the asset lines end or the step
     * budget is spent; heartbeats the position after each asset and resumes from it after a retry.
     */
    async restoreBackupAssets(input: {
      restoreId: string;
      cursor: number;
      end: number;
      assetsTotal: number;
      tuning?: BackupTuning;
    }): Promise<{ cursor: number; done: boolean; progress: RestoreProgress }> {
      const ctx = Context.current();
      const restore = (await permanent(() => getRestore(db, input.restoreId))) as RestoreRow;
      const backup = await permanent(() => backupOf(restore));
      const manifest = { bucket: backupBucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
      const wanted = restore.scope.asset_ids ? new Set(restore.scope.asset_ids) : undefined;
      const resumed = ctx.info.heartbeatDetails as { cursor?: number } | undefined;
      let cursor = Math.max(input.cursor, resumed?.cursor ?? 0);
      if (ctx.info.attempt > 1) logger.info('restore resumed', { restore_id: restore.id, attempt: ctx.info.attempt, cursor });
      const limits = copyLimitsOf(input.tuning);
      const deadline = Date.now() + (input.tuning?.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS);
      const beat = () => ctx.heartbeat({ cursor });
      beat();

      const finish = async (group: AssetGroup) => {
        if ((!wanted || wanted.has(group.asset.id)) && !(await itemDone(db, restore.id, group.asset.id))) {
          await restoreAsset(restore, group, limits, ctx.cancellationSignal, beat);
        }
        cursor = group.end;
        beat();
      };

      let done = false;
      let outOfTime = false;
      let group: AssetGroup | undefined;
      // The record lines (after the asset lines) come back a page of one table at a time; a restore of some assets brings none back.
      let records: RecordPage | undefined;
      const flushRecords = async () => {
        if (!records) return;
        if (!wanted) await restoreRecords(db, records.table, records.rows);
        cursor = records.end;
        records = undefined;
        beat();
      };
      await permanent(async () => {
        // Checked whole when the restore began, the manifest is read again here, maybe replaced since by
        // whoever can write the backup bucket: every line is checked again, as an import does, before it is used.
        const checker = manifestChecker(backup.id, manifest.key);
        for await (const header of readManifestLines(s3, manifest, 0, ctx.cancellationSignal)) {
          checker.visit(header);
          break;
        }
        for await (const read of readManifestLines(s3, manifest, cursor, ctx.cancellationSignal)) {
          const { line } = read;
          checker.visit(read);
          if (read.start >= input.end || line.type === 'blob' || line.type === 'end') {
            done = true;
            break;
          }
          if (line.type === 'record') {
            if (group) {
              await finish(group);
              group = undefined;
            }
            if (records && (records.table !== line.table || records.rows.length >= RECORD_PAGE)) {
              await flushRecords();
              if (Date.now() >= deadline) {
                outOfTime = true;
                break;
              }
            }
            records ??= { table: line.table, rows: [], end: read.end };
            records.rows.push(line.row);
            records.end = read.end;
          } else if (line.type === 'asset') {
            if (group) {
              await finish(group);
              group = undefined;
              if (Date.now() >= deadline) {
                // The next call starts at this asset's line.
                outOfTime = true;
                break;
              }
            }
            group = { asset: line, versions: [], end: read.end };
          } else if (line.type === 'version') {
            if (!group || line.asset_id !== group.asset.id)
              throw new ManifestCorruptError(`manifest ${manifest.key}: version ${line.id} at byte ${read.start} follows no line of its asset`);
            group.versions.push(line);
            group.end = read.end;
          } else {
            throw new ManifestCorruptError(`manifest ${manifest.key}: a ${line.type} line at byte ${read.start}, among the asset lines`);
          }
        }
        if (done && group) await finish(group);
        if (done) await flushRecords();
        if (!done && !outOfTime) throw new ManifestCorruptError(`manifest ${manifest.key} ends inside its asset lines`);
      });
      const progress = await progressOf(restore.id, input.assetsTotal);
      await db('backup_jobs')
        .where({ id: restore.id, status: 'running' })
        .update({ progress: JSON.stringify(progress) });
      return { cursor, done, progress };
    },

    /** Completes the restore, or fails it naming every asset it could not restore. */
    async finishRestore(input: { restoreId: string; assetsTotal: number }): Promise<{ status: JobStatus; progress: RestoreProgress; error: string | null }> {
      const progress = await progressOf(input.restoreId, input.assetsTotal);
      let error: string | null = null;
      if (progress.assets_failed > 0) {
        const failed = await failedRestoreItems(db, input.restoreId, 20);
        const more = progress.assets_failed - failed.length;
        error =
          `${progress.assets_failed} of ${progress.assets_total} assets could not be restored: ` +
          failed.map((f) => `asset ${f.asset_id}: ${f.error}`).join('; ') +
          (more > 0 ? `; and ${more} more (GET the restore for the list)` : '');
      } else if (progress.assets_done !== progress.assets_total) {
        error = `the restore dealt with ${progress.assets_done} of ${progress.assets_total} assets`;
      }
      const status: JobStatus = error ? 'failed' : 'completed';
      await db('backup_jobs')
        .where({ id: input.restoreId })
        .whereIn('status', ['pending', 'running'])
        .update({ status, error, progress: JSON.stringify(progress), completed_at: db.fn.now() });
      const row = await getRestore(db, input.restoreId);
      logger.info('restore finished', { restore_id: input.restoreId, status: row.status, ...progress });
      return { status: row.status, progress: restoreProgressOf(row.progress), error: row.error };
    },

    async failRestore(input: { restoreId: string; error: string }): Promise<void> {
      const progress = await restoreItemCounts(db, input.restoreId).catch(() => undefined);
      const row = await getRestore(db, input.restoreId).catch(() => undefined);
      await failJob(db, input.restoreId, input.error, progress && row ? { ...restoreProgressOf(row.progress), ...progress } : undefined);
    },
  };
}

export type RestoreActivities = ReturnType<typeof createRestoreActivities>;
