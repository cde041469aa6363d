/**
 * Restoring one asset from a backup, the catalog side: the rows re-created with their original ids,
 * version numbers, metadata, tags, owner and grants, in one transaction with the asset's events and the restore's
 * item for it (so a retried batch finds the asset done and does nothing twice).
 *
 * Modes: `missing` leaves live assets' rows alone and brings back gone or soft-deleted ones (a
 * soft-deleted asset keeps what it has and gets back the versions it lost), and brings back the object
 * of any version whose row is there but whose object is not (`repaired`); `overwrite` makes the asset
 * exactly what the backup holds (versions the backup does not hold are removed, objects first).
 */
import type { Knex } from 'knex';
import { replaceMetadata } from '../assets/assets';
import { writeGrants } from '../assets/grants';
import { SYSTEM_OWNER } from '../auth/actor';
import type { JobRow, RestoreMode } from './catalog';
import { runActorOf, type AuditWriter } from '../audit/log';
import type { AssetLine, VersionLine } from './manifest';
import { recordEvent } from '../events/outbox';

export interface LiveVersion {
  id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
  checksum_sha256: string;
  superseded_at: Date | null;
}

export interface LiveAsset {
  id: string;
  is_deleted: boolean;
  last_version_number: number;
  revision: number;
}

export interface ItemOutcome {
  status: 'restored' | 'skipped' | 'failed';
  error?: string | null;
  versions?: number;
  objects_copied?: number;
  bytes_done?: number;
  bytes_copied?: number;
}

export async function itemDone(db: Knex | Knex.Transaction, restoreId: string, assetId: string): Promise<boolean> {
  return (await db('restore_items').where({ restore_id: restoreId, asset_id: assetId }).first()) !== undefined;
}

/** Records an asset the restore skipped or could not restore (once). */
export async function recordItem(db: Knex | Knex.Transaction, restoreId: string, assetId: string, outcome: ItemOutcome): Promise<void> {
  await db('restore_items')
    .insert({
      restore_id: restoreId,
      asset_id: assetId,
      status: outcome.status,
      error: outcome.error ?? null,
      versions: outcome.versions ?? 0,
      objects_copied: outcome.objects_copied ?? 0,
      bytes_done: outcome.bytes_done ?? 0,
      bytes_copied: outcome.bytes_copied ?? 0,
    })
    .onConflict(['restore_id', 'asset_id'])
    .ignore();
}

export async function liveStateOf(db: Knex | Knex.Transaction, assetId: string): Promise<{ asset: LiveAsset | undefined; versions: LiveVersion[] }> {
  const asset = (await db('assets').where({ id: assetId }).select('id', 'is_deleted', 'last_version_number', 'revision').first()) as LiveAsset | undefined;
  const versions = (await db('asset_versions')
    .where({ asset_id: assetId })
    .orderBy('version_number')
    .select('id', 'version_number', 'object_key', 'size_bytes', 'checksum_sha256', 'superseded_at')) as LiveVersion[];
  return { asset, versions };
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

export type CommitOutcome = { done: true; versionsInserted: number } | { done: false; reason: 'already' | 'live' };

/**
 * Writes the asset's rows, events and item in one transaction. `removed` are the version ids whose
 * objects were deleted (overwrite); any other version that appeared meanwhile is kept.
 */
export async function commitRestoredAsset(
  db: Knex,
  input: {
    restoreId: string;
    backupId: string;
    mode: RestoreMode;
    asset: AssetLine;
    versions: VersionLine[];
    removed: string[];
    /** Versions whose row was there and whose object was copied back (missing mode). */
    repaired?: string[];
    item: Omit<ItemOutcome, 'status'>;
    /** The restore's own row: whom it acts for and its workflow. */
    job: Pick<JobRow, 'actor' | 'workflow_id'>;
  },
  audit: AuditWriter,
): Promise<CommitOutcome> {
  const { restoreId, backupId, mode, asset } = input;
  return db.transaction(async (trx) => {
    const live = (await trx('assets').where({ id: asset.id }).forUpdate().first()) as
      (LiveAsset & { current_version_id: string | null; purging_since: Date | null }) | undefined;
    if (await itemDone(trx, restoreId, asset.id)) return { done: false, reason: 'already' };
    const recordRestored = async (versionsInserted: number): Promise<CommitOutcome> => {
      await recordItem(trx, restoreId, asset.id, { status: 'restored', ...input.item, versions: versionsInserted });
      await audit(trx, {
        actor: runActorOf(input.job),
        action: 'restore.asset',
        outcome: 'completed',
        subjects: { asset_id: asset.id, backup_id: backupId, restore_id: restoreId },
        requestId: input.job.workflow_id,
      });
      return { done: true, versionsInserted };
    };
    if (mode === 'missing' && live && !live.is_deleted) {
      // Its rows stay as they are: only the objects they had lost came back (unless it is being deleted).
      if (!input.repaired?.length || live.purging_since) return { done: false, reason: 'live' };
      return recordRestored(0);
    }
    const restored = { backup_id: backupId, restore_id: restoreId };
    const exact = mode === 'overwrite' || !live;

    if (input.removed.length) await trx('asset_versions').where({ asset_id: asset.id }).whereIn('id', input.removed).delete();
    const existing = new Set<string>(await trx('asset_versions').where({ asset_id: asset.id }).pluck('id'));
    const inserted = input.versions.filter((v) => !existing.has(v.id));
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
      await trx('assets').insert({ id: asset.id, ...assetFields, version_count: 0, revision, created_at: asset.created_at });
    } else if (exact) {
      await trx('assets')
        .where({ id: asset.id })
        .update({ ...assetFields, revision });
    } else {
      // missing mode, soft-deleted asset: it keeps its fields and versions, and is live again as it
      // was in the backup.
      await trx('assets')
        .where({ id: asset.id })
        .update({ is_deleted: asset.is_deleted, deleted_at: asset.deleted_at, last_version_number: lastNumber, revision });
    }
    if (inserted.length) {
      await trx('asset_versions').insert(
        inserted.map((v) => ({
          id: v.id,
          asset_id: asset.id,
          version_number: v.version_number,
          object_key: v.object_key,
          size_bytes: v.size_bytes,
          content_type: v.content_type,
          checksum_sha256: v.checksum_sha256,
          upload_id: v.upload_id,
          created_at: v.created_at,
          superseded_at: v.superseded_at,
        })),
      );
    }
    if (exact) {
      await replaceMetadata(trx, asset.id, asset.metadata);
      await writeGrants(trx, asset.id, asset.grants ?? []);
      for (const v of input.versions.filter((v) => existing.has(v.id))) {
        await trx('asset_versions').where({ id: v.id }).update({ superseded_at: v.superseded_at });
      }
      // A version committed meanwhile (kept: its object was not removed) is not current.
      await trx('asset_versions')
        .where({ asset_id: asset.id })
        .whereNotIn(
          'id',
          input.versions.map((v) => v.id),
        )
        .whereNull('superseded_at')
        .update({ superseded_at: trx.fn.now() });
    } else {
      // The newest version is the current one (as every upload makes it); the others are superseded.
      const newest = (await trx('asset_versions').where({ asset_id: asset.id }).orderBy('version_number', 'desc').first()) as LiveVersion | undefined;
      if (newest) {
        await trx('asset_versions')
          .where({ asset_id: asset.id })
          .whereNot({ id: newest.id })
          .whereNull('superseded_at')
          .update({ superseded_at: trx.fn.now() });
        await trx('asset_versions').where({ id: newest.id }).update({ superseded_at: null });
        await trx('assets')
          .where({ id: asset.id })
          .update({ current_version_id: newest.id, size_bytes: newest.size_bytes, checksum_sha256: newest.checksum_sha256 });
      }
    }
    const [{ n }] = await trx('asset_versions').where({ asset_id: asset.id }).count({ n: '*' });
    await trx('assets')
      .where({ id: asset.id })
      .update({ version_count: Number(n) });

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
    return recordRestored(inserted.length);
  });
}
