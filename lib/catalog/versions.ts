import type { Knex } from 'knex';
import { NotFoundError } from '../errors';
import { decodeCursor, pageOf, type Page } from '../pagination';

export interface VersionRow {
  id: string;
  asset_id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
  content_type: string;
  checksum_sha256: string;
  upload_id: string | null;
  created_at: Date;
  superseded_at: Date | null;
}

export interface VersionJson {
  id: string;
  asset_id: string;
  version_number: number;
  size_bytes: number;
  content_type: string;
  checksum_sha256: string;
  is_current: boolean;
  created_at: string;
}

export function toVersionJson(row: VersionRow): VersionJson {
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
  };
}

export async function getVersion(db: Knex | Knex.Transaction, assetId: string, versionId: string): Promise<VersionRow> {
  const row = (await db('asset_versions').where({ id: versionId, asset_id: assetId }).first()) as VersionRow | undefined;
  if (!row) throw new NotFoundError(`version ${versionId} of asset ${assetId} not found`);
  return row;
}

type VersionCursor = { n: number };

export async function listVersions(db: Knex, assetId: string, q: { limit: number; cursor?: string }): Promise<Page<VersionJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is VersionCursor => Number.isInteger(p.n));
  const query = db('asset_versions').where({ asset_id: assetId }).orderBy('version_number', 'desc').limit(q.limit + 1);
  if (cursor) query.where('version_number', '<', cursor.n);
  const rows = (await query) as VersionRow[];
  return pageOf(rows, q.limit, toVersionJson, (row) => ({ n: row.version_number }));
}

/**
 * Noncurrent versions beyond the `max` newest of an asset, oldest first: what pruning removes.
 * The current version is never among them.
 */
export async function versionsBeyond(db: Knex, assetId: string, max: number): Promise<VersionRow[]> {
  return db('asset_versions')
    .where({ asset_id: assetId })
    .whereNotNull('superseded_at')
    .whereNotIn(
      'id',
      db('asset_versions').select('id').where({ asset_id: assetId }).orderBy('version_number', 'desc').limit(max),
    )
    .orderBy('version_number', 'asc');
}

/** Removes a version's row after its object is gone; idempotent. */
export async function deleteVersionRow(db: Knex, version: Pick<VersionRow, 'id' | 'asset_id'>): Promise<boolean> {
  return db.transaction(async (trx) => {
    const deleted = await trx('asset_versions').where({ id: version.id }).whereNotNull('superseded_at').delete();
    if (deleted) await trx('assets').where({ id: version.asset_id }).decrement('version_count', 1);
    return deleted > 0;
  });
}
