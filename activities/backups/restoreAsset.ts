/**
 * One asset of a restore (activities/backups/restore.ts reads the manifest's lines): each needed blob
 * copied back to its version's key and hashed there, then the rows re-created (lib/backups/restore.ts).
 * A live object an overwrite would keep is hashed first: of the right size but other bytes, it is
 * copied over from its blob like a missing one.
 * A blob that is missing or corrupt fails the asset alone: nothing of the live asset is touched, and
 * what this restore wrote for it is removed.
 *
 * Meeting a deletion (lib/backups/restore.ts says why): an asset whose permanent deletion has begun is
 * skipped, before anything is copied and again at the commit, and what this restore copied for it is
 * removed; a version the restore would keep whose row a deletion has claimed makes the attempt fail,
 * retryably, until that deletion has ended.
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

/** A deletion has claimed versions the restore would keep: retried (the step resumes at this asset) until it has ended. */
class VersionsClaimedError extends Error {
  constructor(assetId: string, versionIds: string[]) {
    super(
      `asset ${assetId}: versions ${versionIds.join(', ')} are being deleted (a prune or a version expiry claimed them): restored once that deletion has ended`,
    );
  }
}

/** The item of an asset whose permanent deletion is under way. */
function purgingItem(asset: AssetLine) {
  return { status: 'skipped' as const, error: `asset ${asset.id} is being deleted for good: not restored` };
}

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
  /** Versions whose object this attempt copied from its blob (or found copied by an earlier attempt). */
  copied: string[];
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
  if (live.asset?.purging_since) {
    await removeOurCopies(deps, restore, group.versions, signal);
    await recordItem(db, restore.id, asset.id, purgingItem(asset));
    return;
  }
  // missing mode checks the store too: a version whose row is there may have lost its object.
  const repaired = mode === 'missing' ? await objectsLost(deps, group.versions, live.versions, signal) : [];
  refuseClaimed(asset.id, mode === 'overwrite' ? group.versions : repaired, live.versions);
  if (mode === 'missing' && live.asset && !live.asset.is_deleted && repaired.length === 0) {
    await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
    return;
  }
  const liveById = new Map(live.versions.map((v) => [v.id, v]));
  const wanted = [...versionsToRestore(mode, group.versions, live.versions), ...repaired];
  const copy: AssetCopy = { restore, liveById, item: { objects_copied: 0, bytes_done: 0, bytes_copied: 0 }, written: [], copied: [], limits, signal, beat };
  try {
    for (const v of wanted) await restoreVersionObject(deps, copy, v);
  } catch (err) {
    if (!(err instanceof AssetRestoreFailure)) throw err;
    await deleteKeys(s3, config.s3.bucket, copy.written);
    logger.warn('asset not restored', { restore_id: restore.id, asset_id: asset.id, error: err.message });
    await recordItem(db, restore.id, asset.id, { status: 'failed', error: err.message });
    return;
  }
  await commitAsset(deps, copy, group, { live: live.versions, wanted, repaired, hadRow: live.asset !== undefined });
}

/** Before anything is copied: fails the attempt (retryably) if a deletion has recently claimed a live version it would keep. */
function refuseClaimed(assetId: string, kept: VersionLine[], live: LiveVersion[]): void {
  const liveById = new Map(live.map((v) => [v.id, v]));
  const claimed = kept.filter((v) => liveById.get(v.id)?.claim === 'recent').map((v) => v.id);
  if (claimed.length) throw new VersionsClaimedError(assetId, claimed);
}

/** Removes the objects of `versions` this restore copied (they carry its id): its asset's deletion may have listed them already. */
async function removeOurCopies({ s3, config }: RestoreDeps, restore: RestoreRow, versions: VersionLine[], signal: AbortSignal): Promise<void> {
  const ours: string[] = [];
  for (const v of versions) {
    const present = await headObject(s3, { bucket: config.s3.bucket, key: v.object_key }, signal);
    if (present?.metadata['restore-id'] === restore.id) ours.push(v.object_key);
  }
  await deleteKeys(s3, config.s3.bucket, ours);
}

/**
 * One version's object at its key, checked: the live one left in place, else copied from its blob.
 * A live version whose claim was abandoned is copied again: its object may be gone or half gone.
 */
async function restoreVersionObject(deps: RestoreDeps, copy: AssetCopy, v: VersionLine): Promise<void> {
  const { s3, config } = deps;
  const { restore, item, signal, beat } = copy;
  const target = { bucket: config.s3.bucket, key: v.object_key };
  const blob = { bucket: config.s3.backupBucket, key: blobKeyFor(v.checksum_sha256) };
  const lv = copy.liveById.get(v.id);
  const present = await headObject(s3, target, signal);
  const inPlace = lv && lv.claim !== 'abandoned' && lv.checksum_sha256 === v.checksum_sha256 && present && present.sizeBytes === v.size_bytes;
  if (inPlace && present.metadata['restore-id'] !== restore.id && (await holdsVersion(deps, target, v, copy))) {
    // The live object of this very version, hashed: already in place. (One this restore copied in an
    // attempt that was cut short is checked below like any copy; one whose bytes differ is copied over.)
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
  copy.copied.push(v.id);
  item.objects_copied += 1;
  item.bytes_copied += v.size_bytes;
  item.bytes_done += v.size_bytes;
  beat();
}

/** The keys among `keys` that hold no object. */
async function keysWithoutObject({ s3, config }: RestoreDeps, keys: string[], signal: AbortSignal): Promise<string[]> {
  const missing: string[] = [];
  for (const key of keys) if (!(await headObject(s3, { bucket: config.s3.bucket, key }, signal))) missing.push(key);
  return missing;
}

/** Whether the live object holds the version's bytes: its size alone proves nothing (issue 28). */
async function holdsVersion({ s3, logger }: RestoreDeps, target: ObjectRef, v: VersionLine, copy: AssetCopy): Promise<boolean> {
  let got;
  try {
    got = await hashObject(s3, target, { signal: copy.signal, onBytes: copy.beat });
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  if (got.sha256 === v.checksum_sha256 && got.sizeBytes === v.size_bytes) return true;
  logger.warn('live object does not hold its version: copied from the backup', { restore_id: copy.restore.id, version_id: v.id, got: got.sha256 });
  return false;
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
  versions: { live: LiveVersion[]; wanted: VersionLine[]; repaired: VersionLine[]; hadRow: boolean },
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
      hadRow: versions.hadRow,
      copied: copy.copied,
      item: copy.item,
      job: restore,
      objectsMissing: (keys) => keysWithoutObject(deps, keys, copy.signal),
    },
    auditWriterOf(config.audit.enabled),
  );
  // Also when an earlier attempt had committed it: that attempt may have stopped before this line.
  await assetCache?.invalidate([asset.id]);
  if (!outcome.done && outcome.reason === 'claimed') throw new VersionsClaimedError(asset.id, outcome.versionIds);
  if (!outcome.done && outcome.reason === 'objects-lost')
    throw new Error(
      `asset ${asset.id}: objects ${outcome.keys.join(', ')} were removed (a scrub took them for orphans) before its rows committed: copied again`,
    );
  if (!outcome.done && outcome.reason === 'vanished')
    throw new Error(`asset ${asset.id} was deleted for good while it was restored: restored again from the start`);
  if (!outcome.done && outcome.reason === 'purging') {
    await removeOurCopies(deps, restore, group.versions, copy.signal);
    await recordItem(db, restore.id, asset.id, purgingItem(asset));
  }
  if (!outcome.done && outcome.reason === 'live') {
    // Brought back by someone else meanwhile (missing mode): live assets are left alone.
    await deleteKeys(s3, config.s3.bucket, copy.written);
    await recordItem(db, restore.id, asset.id, { status: 'skipped', error: null });
  }
}
