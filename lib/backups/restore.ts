/**
 * Restoring one asset from a backup, the catalog side: the rows re-created with their original ids,
 * version numbers, metadata, tags, owner and grants, in one transaction with the asset's events and the restore's
 * item for it (so a retried batch finds the asset done and does nothing twice).
 *
 * Modes: `missing` leaves live assets' rows alone and brings back gone or soft-deleted ones (a
 * soft-deleted asset keeps what it has and gets back the versions it lost), and brings back the object
 * of any version whose row is there but whose object is not (`repaired`); `overwrite` makes the asset
 * exactly what the backup holds (versions the backup does not hold are removed, objects first).
 *
 * A restore meets a deletion (issue 26), both re-checked under the asset's row lock at the commit:
 * - an asset whose permanent deletion has begun (`purging_since`) is not restored: its deletion may
 *   have listed its prefix already, so what the restore copied would outlive its rows. The asset is
 *   skipped and the caller removes what it copied for it. One whose rows went since the attempt began
 *   (its deletion ran meanwhile, and may have deleted the copies) is refused retryably: the next attempt
 *   finds no row and copies everything again.
 * - a version of the backup whose live row a prune or a version expiry has claimed (`deleting_since`)
 *   is not kept: its deletion deletes the object after its claim, whenever it goes on, so nothing the
 *   restore copies before is safe. The commit is refused, retryably: once the deletion has ended, the
 *   version's row is gone and the next attempt copies it back like any missing version. A claim older
 *   than CLAIM_ABANDONED_AFTER_MS is taken to be abandoned (its deletion died): an attempt that copied
 *   the version itself keeps it and drops the claim.
 */
import type { Knex } from 'knex';
import { replaceMetadata } from '../assets/store';
import { writeGrants } from '../assets/store';
import { SYSTEM_OWNER } from '../auth/actor';
import type { JobRow, RestoreMode } from './jobRows';
import { runActorOf, type AuditWriter } from '../audit/log';
import type { AssetLine, VersionLine } from './manifest';
import { markVersionRepaired } from '../scrub/store';
import { recordEvent } from '../events/outbox';
import {
  assetPurgingSince,
  assetVersionIds,
  claimedVersionRows,
  clearVersionClaims,
  countAssetVersionRows,
  deleteAssetVersionRows,
  insertRestoredAssetRow,
  insertRestoredVersionRows,
  lockAssetRowForRestore,
  lockObjectKeys,
  newestVersionRow,
  restoreLiveAssetRow,
  restoreLiveVersionRows,
  setVersionSupersededAt,
  supersedeVersionsBut,
  supersedeVersionsOutside,
  updateRestoredAssetRow,
} from '../assets/store';
import { insertRestoreItem, restoreItemExists, type ItemOutcome } from './store';

/** After this, a claim on a version (deleting_since) whose row is still there is taken to be abandoned. */
export const CLAIM_ABANDONED_AFTER_MS = 60 * 60_000;

export type Claim = 'recent' | 'abandoned';

export interface LiveVersion {
  id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
  checksum_sha256: string;
  superseded_at: Date | null;
  /** Whether a deletion has claimed it (`deleting_since`): its object is going, unless the claim was abandoned. */
  claim: Claim | null;
}

export interface LiveAsset {
  id: string;
  is_deleted: boolean;
  last_version_number: number;
  revision: number;
  purging_since: Date | null;
}

export type { ItemOutcome };

export async function itemDone(db: Knex | Knex.Transaction, restoreId: string, assetId: string): Promise<boolean> {
  return restoreItemExists(db, restoreId, assetId);
}

/** Records an asset the restore skipped or could not restore (once). */
export async function recordItem(db: Knex | Knex.Transaction, restoreId: string, assetId: string, outcome: ItemOutcome): Promise<void> {
  await insertRestoreItem(db, restoreId, assetId, outcome);
}

export async function liveStateOf(db: Knex | Knex.Transaction, assetId: string): Promise<{ asset: LiveAsset | undefined; versions: LiveVersion[] }> {
  const row = await restoreLiveAssetRow<Omit<LiveAsset, 'purging_since'>>(db, assetId);
  const purging = row && (await assetPurgingSince(db, assetId));
  const asset = row && { ...row, purging_since: purging?.purging_since ?? null };
  const rows = await restoreLiveVersionRows<Omit<LiveVersion, 'claim'>>(db, assetId);
  const claims = await claimsOf(
    db,
    assetId,
    rows.map((v) => v.id),
  );
  return { asset, versions: rows.map((v) => ({ ...v, claim: claims.get(v.id) ?? null })) };
}

/** The claims on the asset's versions `ids`: recent, or abandoned (older than CLAIM_ABANDONED_AFTER_MS). */
async function claimsOf(db: Knex | Knex.Transaction, assetId: string, ids: string[]): Promise<Map<string, Claim>> {
  const rows = await claimedVersionRows(db, assetId, ids, CLAIM_ABANDONED_AFTER_MS / 1000);
  return new Map(rows.map((c) => [c.id, c.abandoned ? 'abandoned' : 'recent']));
}

/**
 * The versions of the backup the asset's rows will have after the restore: in `missing` mode those it
 * lacks, in `overwrite` mode all of them. (Which objects must be copied is decided by the caller.)
 */
export function versionsToRestore(mode: RestoreMode, backupVersions: VersionLine[], live: LiveVersion[]): VersionLine[] {
  if (mode === 'overwrite') return backupVersions;
  const have = new Set(live.map((v) => v.id));
  return backupVersions.filter((v) => !have.has(v.id));
}

/** Live versions an overwrite removes: those the backup does not hold. */
export function versionsToRemove(mode: RestoreMode, backupVersions: VersionLine[], live: LiveVersion[]): LiveVersion[] {
  if (mode !== 'overwrite') return [];
  const keep = new Set(backupVersions.map((v) => v.id));
  return live.filter((v) => !keep.has(v.id));
}

export type CommitOutcome =
  | { done: true; versionsInserted: number }
  | { done: false; reason: 'already' | 'live' | 'purging' | 'vanished' }
  | { done: false; reason: 'claimed'; versionIds: string[] }
  | { done: false; reason: 'objects-lost'; keys: string[] };

export interface CommitInput {
  restoreId: string;
  backupId: string;
  mode: RestoreMode;
  asset: AssetLine;
  versions: VersionLine[];
  removed: string[];
  /** Versions whose row was there and whose object was copied back (missing mode). */
  repaired?: string[];
  /** The asset had a row when this attempt began: gone at the commit, a permanent deletion ran meanwhile. */
  hadRow?: boolean;
  /** Versions whose object this attempt copied (from their blob): only these may take over an abandoned claim. */
  copied?: string[];
  item: Omit<ItemOutcome, 'status'>;
  /** The restore's own row: whom it acts for and its workflow. */
  job: Pick<JobRow, 'actor' | 'workflow_id'>;
  /**
   * Which of `keys` hold no object, asked under the keys' locks before the rows commit: a scrub may
   * have removed one as an orphan while no row named it (lib/assets/store.ts lockObjectKeys).
   */
  objectsMissing?: (keys: string[]) => Promise<string[]>;
}

type LockedAsset = LiveAsset & { current_version_id: string | null };

/**
 * Writes the asset's rows, events and item in one transaction. `removed` are the version ids whose
 * objects were deleted (overwrite); any other version that appeared meanwhile is kept.
 */
export async function commitRestoredAsset(db: Knex, input: CommitInput, audit: AuditWriter): Promise<CommitOutcome> {
  const { restoreId, mode, asset } = input;
  return db.transaction(async (trx) => {
    const live = await lockAssetRowForRestore<LockedAsset>(trx, asset.id);
    if (await itemDone(trx, restoreId, asset.id)) return { done: false, reason: 'already' };
    if (live?.purging_since) return { done: false, reason: 'purging' };
    // Its deletion may have deleted what this attempt copied: the next one copies everything again.
    if (input.hadRow && !live) return { done: false, reason: 'vanished' };
    const claimed = await claimsInTheWay(trx, input);
    if (claimed.length) return { done: false, reason: 'claimed', versionIds: claimed };
    const lost = await objectsLostUnderLock(trx, input);
    if (lost.length) return { done: false, reason: 'objects-lost', keys: lost };
    if (mode === 'missing' && live && !live.is_deleted) {
      // Its rows stay as they are: only the objects they had lost came back.
      if (!input.repaired?.length) return { done: false, reason: 'live' };
      return recordRestored(trx, input, audit, 0);
    }
    const inserted = await writeRestoredRows(trx, input, live);
    await recordRestoreEvents(trx, input, live, inserted);
    return recordRestored(trx, input, audit, inserted.length);
  });
}

/**
 * Under the asset's lock: the versions the restore would keep whose rows a deletion has claimed, and
 * which it cannot take over (the claim is recent, or this attempt did not copy the object). Abandoned
 * claims on versions this attempt copied are dropped (the version is a snapshot's again).
 */
async function claimsInTheWay(trx: Knex.Transaction, input: CommitInput): Promise<string[]> {
  const claims = await claimsOf(
    trx,
    input.asset.id,
    input.versions.map((v) => v.id),
  );
  const copied = new Set(input.copied ?? []);
  const inTheWay = [...claims].filter(([id, claim]) => claim === 'recent' || !copied.has(id)).map(([id]) => id);
  if (inTheWay.length === 0) await clearVersionClaims(trx, input.asset.id, [...claims.keys()]);
  return inTheWay;
}

/** The keys of the versions the commit writes, locked, whose objects are not there (none asked: none). */
async function objectsLostUnderLock(trx: Knex.Transaction, input: CommitInput): Promise<string[]> {
  if (!input.objectsMissing) return [];
  const keys = input.versions.map((v) => v.object_key);
  await lockObjectKeys(trx, keys);
  return input.objectsMissing(keys);
}

/** The versions' damage marks cleared, then the asset's item and audit row: the last writes of its commit. */
async function recordRestored(trx: Knex.Transaction, input: CommitInput, audit: AuditWriter, versionsInserted: number): Promise<CommitOutcome> {
  const { restoreId, backupId, asset } = input;
  // Each of these objects was hashed at its key by this attempt: a damage mark a scrub left goes, or
  // the remedy its version-damaged problem names would leave its content refused.
  for (const v of input.versions) await markVersionRepaired(trx, v.id);
  await recordItem(trx, restoreId, asset.id, { status: 'restored', ...input.item, versions: versionsInserted });
  await audit(trx, {
    actor: runActorOf(input.job),
    action: 'restore.asset',
    outcome: 'completed',
    subjects: { asset_id: asset.id, backup_id: backupId, restore_id: restoreId },
    requestId: input.job.workflow_id,
  });
  return { done: true, versionsInserted };
}

/** The asset's and its versions' rows as the restore leaves them; answers the versions inserted. */
async function writeRestoredRows(trx: Knex.Transaction, input: CommitInput, live: LockedAsset | undefined): Promise<VersionLine[]> {
  const { mode, asset } = input;
  const exact = mode === 'overwrite' || !live;
  if (input.removed.length) await deleteAssetVersionRows(trx, asset.id, input.removed);
  const existing = new Set<string>(await assetVersionIds(trx, asset.id));
  const inserted = input.versions.filter((v) => !existing.has(v.id));
  await writeAssetRow(trx, input, live, exact);
  if (inserted.length)
    await insertRestoredVersionRows(
      trx,
      inserted.map((v) => versionRowOf(asset.id, v)),
    );
  if (exact) await makeExact(trx, input, existing);
  else await makeNewestCurrent(trx, asset.id);
  await updateRestoredAssetRow(trx, asset.id, { version_count: await countAssetVersionRows(trx, asset.id) });
  return inserted;
}

async function writeAssetRow(trx: Knex.Transaction, input: CommitInput, live: LockedAsset | undefined, exact: boolean): Promise<void> {
  const { asset } = input;
  const lastNumber = Math.max(live?.last_version_number ?? 0, asset.last_version_number, ...input.versions.map((v) => v.version_number));
  const assetFields = {
    name: asset.name,
    content_type: asset.content_type,
    size_bytes: asset.size_bytes,
    checksum_sha256: asset.checksum_sha256,
    current_version_id: asset.current_version_id,
    last_version_number: lastNumber,
    tags: asset.tags,
    owner_id: asset.owner_id ?? SYSTEM_OWNER,
    is_deleted: asset.is_deleted,
    deleted_at: asset.deleted_at,
  };
  // The restore is a change: the revision continues past the backup's and the live one, so no ETag handed out before matches.
  const revision = Math.max(live?.revision ?? 0, asset.revision ?? 0) + 1;
  if (!live) {
    // created_at as it was; updated_at is the restore's: it is a change (and lifecycle ages from it).
    await insertRestoredAssetRow(trx, { id: asset.id, ...assetFields, version_count: 0, revision, created_at: asset.created_at });
  } else if (exact) {
    await updateRestoredAssetRow(trx, asset.id, { ...assetFields, revision });
  } else {
    // missing mode, soft-deleted asset: it keeps its fields and versions, and is live again as it
    // was in the backup.
    await updateRestoredAssetRow(trx, asset.id, { is_deleted: asset.is_deleted, deleted_at: asset.deleted_at, last_version_number: lastNumber, revision });
  }
}

function versionRowOf(assetId: string, v: VersionLine) {
  return {
    id: v.id,
    asset_id: assetId,
    version_number: v.version_number,
    object_key: v.object_key,
    size_bytes: v.size_bytes,
    content_type: v.content_type,
    checksum_sha256: v.checksum_sha256,
    upload_id: v.upload_id,
    // A manifest written before versions recorded it holds none: not known.
    uploaded_by: v.uploaded_by ?? null,
    created_at: v.created_at,
    superseded_at: v.superseded_at,
  };
}

/** The asset's metadata, grants and versions' states exactly as the backup holds them. */
async function makeExact(trx: Knex.Transaction, input: CommitInput, existing: Set<string>): Promise<void> {
  const { asset } = input;
  await replaceMetadata(trx, asset.id, asset.metadata);
  await writeGrants(trx, asset.id, asset.grants ?? []);
  for (const v of input.versions.filter((v) => existing.has(v.id))) {
    await setVersionSupersededAt(trx, v.id, v.superseded_at);
  }
  // A version committed meanwhile (kept: its object was not removed) is not current.
  await supersedeVersionsOutside(
    trx,
    asset.id,
    input.versions.map((v) => v.id),
  );
}

/** The newest version is the current one (as every upload makes it); the others are superseded. */
async function makeNewestCurrent(trx: Knex.Transaction, assetId: string): Promise<void> {
  const newest = await newestVersionRow<LiveVersion>(trx, assetId);
  if (!newest) return;
  await supersedeVersionsBut(trx, assetId, newest.id);
  await setVersionSupersededAt(trx, newest.id, null);
  await updateRestoredAssetRow(trx, assetId, { current_version_id: newest.id, size_bytes: newest.size_bytes, checksum_sha256: newest.checksum_sha256 });
}

async function recordRestoreEvents(trx: Knex.Transaction, input: CommitInput, live: LockedAsset | undefined, inserted: VersionLine[]): Promise<void> {
  const { mode, asset } = input;
  const restored = { backup_id: input.backupId, restore_id: input.restoreId };
  const current = input.versions.find((v) => v.id === asset.current_version_id);
  if (!live) {
    await recordEvent(trx, 'storage.asset.created', asset.id, {
      asset_id: asset.id,
      version_id: asset.current_version_id,
      version_number: current?.version_number ?? null,
      name: asset.name,
      content_type: asset.content_type,
      size_bytes: asset.size_bytes,
      restored,
    });
  } else {
    await recordEvent(trx, 'storage.asset.updated', asset.id, { asset_id: asset.id, changed: ['restored'], mode, restored });
  }
  for (const v of inserted) {
    await recordEvent(trx, 'storage.version.created', asset.id, {
      asset_id: asset.id,
      version_id: v.id,
      version_number: v.version_number,
      size_bytes: v.size_bytes,
      checksum_sha256: v.checksum_sha256,
      restored,
    });
  }
}
