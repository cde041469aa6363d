import type { Knex } from 'knex';
import { NotFoundError } from '../platform/errors';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { findCompletedSessionOfVersion } from '../uploads/store';
import { uploaderOf } from '../uploads/sessionRow';
import {
  deleteVersionRows,
  findVersion,
  lockAssetsOfVersions,
  markNoncurrentVersionsDeleting,
  selectVersionPage,
  versionsBeyond,
  type DeletingVersion,
} from './store';
import type { VersionRow } from './rows';

export type { VersionRow } from './rows';

export interface VersionJson {
  id: string;
  asset_id: string;
  version_number: number;
  size_bytes: number;
  content_type: string;
  checksum_sha256: string;
  is_current: boolean;
  created_at: string;
  /** Who uploaded it (their sub); null: not known (a version made before this was recorded). */
  uploaded_by: string | null;
  /** Set when a scrub found its bytes wrong and could not repair them (lib/scrub/); its content is then refused. */
  damaged_at: string | null;
  damage: string | null;
}

/** `damaged_at`/`damage`: the scrub's columns, read with the row (`select *`); absent reads as not damaged. */
export function toVersionJson(row: VersionRow & { damaged_at?: Date | null; damage?: string | null }): VersionJson {
  return {
    id: row.id,
    asset_id: row.asset_id,
    version_number: row.version_number,
    size_bytes: row.size_bytes,
    content_type: row.content_type,
    checksum_sha256: row.checksum_sha256,
    // The current version is the one that has not been superseded.
    is_current: row.superseded_at === null,
    created_at: row.created_at.toISOString(),
    uploaded_by: row.uploaded_by ?? null,
    damaged_at: row.damaged_at ? row.damaged_at.toISOString() : null,
    damage: row.damaged_at ? (row.damage ?? null) : null,
  };
}

export async function getVersion(db: Knex | Knex.Transaction, assetId: string, versionId: string): Promise<VersionRow> {
  const row = await findVersion(db, assetId, versionId);
  if (!row) throw new NotFoundError(`version ${versionId} of asset ${assetId} not found`);
  return row;
}

type VersionCursor = { n: number };

export async function listVersions(db: Knex, assetId: string, q: { limit: number; cursor?: string }): Promise<Page<VersionJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is VersionCursor => Number.isInteger(p.n));
  const rows = await selectVersionPage(db, assetId, q.limit, cursor?.n);
  return pageOf(rows, q.limit, toVersionJson, (row) => ({ n: row.version_number }));
}

/** Removes a version's row after its object is gone; idempotent. */
export async function deleteVersionRow(db: Knex, version: Pick<VersionRow, 'id' | 'asset_id'>): Promise<boolean> {
  return db.transaction(async (trx) => (await deleteVersionRows(trx, [version.id])).length > 0);
}

/**
 * Takes versions `ids` (picked without a lock) for a deletion of their objects: under their assets'
 * row locks, then theirs (the lock order of ./store.ts), those still noncurrent, and among
 * `stillWanted` when given (what the deletion would pick now), are marked `deleting_since`; the
 * others are left alone. Only what this answers may lose its object: a version an overwrite restore
 * made current since the pick keeps it. Idempotent (a retry takes what it marked again).
 */
export async function claimVersionsForDeletion(
  db: Knex,
  ids: string[],
  stillWanted?: (trx: Knex.Transaction) => Promise<string[]>,
): Promise<DeletingVersion[]> {
  if (ids.length === 0) return [];
  return db.transaction(async (trx) => {
    await lockAssetsOfVersions(trx, ids);
    const wanted = stillWanted && new Set(await stillWanted(trx));
    return markNoncurrentVersionsDeleting(trx, wanted ? ids.filter((id) => wanted.has(id)) : ids);
  });
}

/** A prune's claim: those of `ids` still beyond the `max` newest versions of the asset. */
export async function claimVersionsBeyond(db: Knex, assetId: string, max: number, ids: string[]): Promise<DeletingVersion[]> {
  return claimVersionsForDeletion(db, ids, async (trx) => (await versionsBeyond(trx, assetId, max)).map((v) => v.id));
}

/**
 * A version as its upload's session recorded it, for when its row is already gone: a newer upload of
 * the same asset pruned it past STORAGE_MAX_VERSIONS between the commit and the answer to its own
 * request. Only that rare race reads here.
 */
export async function committedVersion(db: Knex, assetId: string, versionId: string, uploadId: string): Promise<VersionJson | undefined> {
  const session = await findCompletedSessionOfVersion(db, uploadId, versionId);
  if (!session?.version_number) return undefined;
  return {
    id: versionId,
    asset_id: assetId,
    version_number: session.version_number,
    size_bytes: session.size_bytes,
    content_type: session.content_type,
    checksum_sha256: session.checksum_sha256,
    is_current: false,
    // The session was completed in the transaction that made the version.
    created_at: session.updated_at.toISOString(),
    uploaded_by: uploaderOf(session),
    // Its row is gone: nothing is known of its bytes since.
    damaged_at: null,
    damage: null,
  };
}
