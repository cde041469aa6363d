/**
 * The store of an asset (its row, its versions, its metadata and its grants): the only code that runs SQL against assets, asset_versions, asset_metadata and asset_grants.
 */
export {};

// ---- used by uploads (moved from lib/uploads/sessions.ts, lib/uploads/sessionAccess.ts) ----

import type { Knex } from 'knex';
import type { AssetRow } from './assets';
import type { Grant } from './grants';

/** An asset's row as a SELECT reads it (its grants and metadata are rows of their own). */
type AssetTableRow = Omit<AssetRow, 'grants' | 'metadata'>;

/** A live asset's owner, its row share-locked (an upload session opening on it). */
export async function shareLockLiveAssetOwner(db: Knex | Knex.Transaction, assetId: string): Promise<{ owner_id: string } | undefined> {
  return db('assets').where({ id: assetId, is_deleted: false }).forShare().first('owner_id');
}

export async function lockLiveAsset(db: Knex | Knex.Transaction, assetId: string): Promise<AssetTableRow | undefined> {
  return db('assets').where({ id: assetId, is_deleted: false }).forUpdate().first();
}

export async function findAssetOwner(db: Knex | Knex.Transaction, assetId: string): Promise<{ owner_id: string } | undefined> {
  return db('assets').where({ id: assetId }).first('owner_id');
}

export async function insertAssetRow(
  db: Knex | Knex.Transaction,
  row: { id: string; name: string; content_type: string; tags: string[]; owner_id: string; last_version_number: number },
): Promise<void> {
  await db('assets').insert(row);
}

export async function supersedeCurrentVersions(db: Knex | Knex.Transaction, assetId: string): Promise<void> {
  await db('asset_versions').where({ asset_id: assetId }).whereNull('superseded_at').update({ superseded_at: db.fn.now() });
}

export async function insertVersionRow(
  db: Knex | Knex.Transaction,
  row: {
    id: string;
    asset_id: string;
    version_number: number;
    object_key: string;
    size_bytes: number;
    content_type: string;
    checksum_sha256: string;
    upload_id: string;
  },
): Promise<void> {
  await db('asset_versions').insert(row);
}

/** The asset's row after a version became its current one: its counters move, its fields are the version's (its tags, when given). */
export async function recordCurrentVersion(
  db: Knex | Knex.Transaction,
  assetId: string,
  version: { versionId: string; versionNumber: number; sizeBytes: number; checksumSha256: string; contentType: string; name: string; tags?: string[] },
): Promise<void> {
  const fields: Record<string, unknown> = {
    current_version_id: version.versionId,
    last_version_number: version.versionNumber,
    version_count: db.raw('version_count + 1'),
    size_bytes: version.sizeBytes,
    checksum_sha256: version.checksumSha256,
    content_type: version.contentType,
    name: version.name,
    revision: db.raw('revision + 1'),
  };
  if (version.tags !== undefined) fields.tags = version.tags;
  await db('assets').where({ id: assetId }).update(fields);
}

export async function countVersionRows(db: Knex | Knex.Transaction, assetId: string): Promise<number> {
  const [{ count }] = await db('asset_versions').where({ asset_id: assetId }).count({ count: '*' });
  return Number(count);
}

export async function selectAssetGrants(db: Knex | Knex.Transaction, assetId: string): Promise<Grant[]> {
  return db('asset_grants').where({ asset_id: assetId }).select('subject', 'access');
}
