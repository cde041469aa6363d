/**
 * One asset of a restore (activities/backups/restore.ts reads the manifest's lines): each needed blob
 * copied back to its version's key and hashed there, then the rows re-created (lib/backups/restore.ts).
 * A blob that is missing or corrupt fails the asset alone: nothing of the live asset is touched, and
 * what this restore wrote for it is removed.
 */
import { blobKeyFor } from '../../lib/backups/catalog';
import { type RestoreMode, type RestoreRow } from '../../lib/backups/jobRows';
import type { AssetLine, VersionLine } from '../../lib/backups/manifest';
import { copyObject, deleteKeys, hashObject, headObject, isNotFound, withTicker, type CopyLimits, type ObjectRef } from '../../lib/platform/storedObjects';
import { commitRestoredAsset, liveStateOf, recordItem, versionsToRemove, versionsToRestore, type LiveVersion } from '../../lib/backups/restore';
import type { ActivityDeps } from '../deps';
import { auditWriterOf } from '../../lib/audit/log';
import { deleteVersionObjects, handoffDepsOf } from '../../lib/backups/handoff';

type RestoreDeps = ActivityDeps;

/** Why one asset cannot be restored; the restore records it and goes on. */
class AssetRestoreFailure extends Error {}

export interface AssetGroup {
  asset: AssetLine;
  versions: VersionLine[];
  /** Byte offset just after the group's last line. */
  end: number;
}

/** The backup's versions whose live row holds the same content at the same key, but whose object is missing. */
async function objectsLost({ config, s3 }: RestoreDeps, versions: VersionLine[], live: LiveVersion[], signal: AbortSignal): Promise<VersionLine[]> {
  const liveById = new Map(live.map((v) => [v.id, v]));
  const lost: VersionLine[] = [];
  for (const v of versions) {
    const lv = liveById.get(v.id);
    if (!lv || lv.checksum_sha256 !== v.checksum_sha256 || lv.object_key !== v.object_key) continue;
    if (!(await headObject(s3, { bucket: config.s3.bucket, key: v.object_key }, signal))) lost.push(v);
  }
  return lost;
}

/** The objects of one asset being restored: what was copied, and the keys written. */
interface AssetCopy {
  restore: RestoreRow;
  liveById: Map<string, LiveVersion>;
  item: { objects_copied: number; bytes_done: number; bytes_copied: number };
  /** Keys this restore wrote that no live row used before: removed again if the asset fails. */
  written: string[];
  limits: CopyLimits;
  signal: AbortSignal;
  beat: () => void;
}

/**
 * Brings one asset back. Answers nothing: the outcome is the asset's restore item, written once.
 */
export async function restoreAsset(
  deps: RestoreDeps,
  restore: RestoreRow,
  group: AssetGroup,
  limits: CopyLimits,
  signal: AbortSignal,
  beat: () => void,
): Promise<void> {
  const { db, s3, logger, config } = deps;
  const { asset } = group;
  const mode: RestoreMode = restore.mode;
  const live = await liveStateOf(db, asset.id);
  // missing mode checks the store too: a version whose row is there may have lost its object.
  const repaired = mode === 'missing' ? await objectsLost(deps, group.versions, live.versions, signal) : [];
  if (mode === 'missing' && live.asset && !live.asset.is_deleted && repaired.length === 0) {
    await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
    return;
  }
  const liveById = new Map(live.versions.map((v) => [v.id, v]));
  const wanted = [...versionsToRestore(mode, group.versions, live.versions), ...repaired];
  const copy: AssetCopy = { restore, liveById, item: { objects_copied: 0, bytes_done: 0, bytes_copied: 0 }, written: [], limits, signal, beat };
  try {
    for (const v of wanted) await restoreVersionObject(deps, copy, v);
  } catch (err) {
    if (!(err instanceof AssetRestoreFailure)) throw err;
    await deleteKeys(s3, config.s3.bucket, copy.written);
    logger.warn('asset not restored', { restore_id: restore.id, asset_id: asset.id, error: err.message });
    await recordItem(db, restore.id, asset.id, { status: 'failed', error: err.message });
    return;
  }
  await commitAsset(deps, copy, group, { live: live.versions, wanted, repaired });
}

/** One version's object at its key, checked: the live one left in place, else copied from its blob. */
async function restoreVersionObject(deps: RestoreDeps, copy: AssetCopy, v: VersionLine): Promise<void> {
  const { s3, config } = deps;
  const { restore, item, signal, beat } = copy;
  const target = { bucket: config.s3.bucket, key: v.object_key };
  const blob = { bucket: config.s3.backupBucket, key: blobKeyFor(v.checksum_sha256) };
  const lv = copy.liveById.get(v.id);
  const present = await headObject(s3, target, signal);
  if (lv && lv.checksum_sha256 === v.checksum_sha256 && present && present.sizeBytes === v.size_bytes && present.metadata['restore-id'] !== restore.id) {
    // The live object of this very version: immutable, already in place. (One this restore
    // copied in an attempt that was cut short is checked below like any copy.)
    item.bytes_done += v.size_bytes;
    return;
  }
  const label = `version ${v.version_number} (${v.id})`;
  const ours = present?.metadata['restore-id'] === restore.id && present.sizeBytes === v.size_bytes;
  if (!ours) {
    await copyBlobTo(deps, copy, v, { blob, target, label, overwritesLive: Boolean(lv && present), writesNew: !present || !lv });
  } else if (!lv) {
    copy.written.push(target.key);
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

/** Copies the version's blob to its key; a live row's object is overwritten only by bytes checked first. */
async function copyBlobTo(
  { s3 }: RestoreDeps,
  copy: AssetCopy,
  v: VersionLine,
  to: { blob: ObjectRef; target: ObjectRef; label: string; overwritesLive: boolean; writesNew: boolean },
): Promise<void> {
  const { blob, target, label } = to;
  const { signal, beat } = copy;
  const stored = await headObject(s3, blob, signal);
  if (!stored) throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is missing from the backup store`);
  if (to.overwritesLive) {
    const got = await hashObject(s3, blob, { signal, onBytes: beat });
    if (got.sha256 !== v.checksum_sha256)
      throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is corrupt: it hashes to ${got.sha256}, the manifest says ${v.checksum_sha256}`);
  }
  if (to.writesNew) copy.written.push(target.key);
  await withTicker(beat, () =>
    copyObject(s3, blob, target, {
      sizeBytes: v.size_bytes,
      metadata: { 'restore-id': copy.restore.id },
      contentType: v.content_type,
      limits: copy.limits,
      signal,
      onPart: beat,
    }).catch((err) => {
      if (isNotFound(err)) throw new AssetRestoreFailure(`${label}: its blob ${blob.key} is missing from the backup store`);
      throw err;
    }),
  );
}

/**
 * The asset's rows, once its objects are in place. Overwrite: the versions the backup does not hold go,
 * objects first (a crash between leaves rows whose objects are gone, which the retry removes: never an
 * object without its row).
 */
async function commitAsset(
  deps: RestoreDeps,
  copy: AssetCopy,
  group: AssetGroup,
  versions: { live: LiveVersion[]; wanted: VersionLine[]; repaired: VersionLine[] },
): Promise<void> {
  const { db, s3, config, assetCache } = deps;
  const { restore } = copy;
  const { asset } = group;
  const mode: RestoreMode = restore.mode;
  const removed = versionsToRemove(mode, group.versions, versions.live);
  await deleteVersionObjects(
    handoffDepsOf(deps),
    removed.map((v) => ({ ...v, asset_id: asset.id })),
    copy.beat,
  );
  const outcome = await commitRestoredAsset(
    db,
    {
      restoreId: restore.id,
      backupId: restore.backup_id,
      mode,
      asset,
      versions: mode === 'overwrite' ? group.versions : versions.wanted,
      removed: removed.map((v) => v.id),
      repaired: versions.repaired.map((v) => v.id),
      item: copy.item,
      job: restore,
    },
    auditWriterOf(config.audit.enabled),
  );
  // Also when an earlier attempt had committed it: that attempt may have stopped before this line.
  await assetCache?.invalidate([asset.id]);
  if (!outcome.done && outcome.reason === 'live') {
    // Brought back by someone else meanwhile (missing mode): live assets are left alone.
    await deleteKeys(s3, config.s3.bucket, copy.written);
    await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
  }
}
