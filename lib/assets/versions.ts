import type { Knex } from 'knex';
import { NotFoundError } from '../platform/errors';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';

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

export async function findVersion(db: Knex | Knex.Transaction, assetId: string, versionId: string): Promise<VersionRow | undefined> {
  return (await db('asset_versions').where({ id: versionId, asset_id: assetId }).first()) as VersionRow | undefined;
}

export async function getVersion(db: Knex | Knex.Transaction, assetId: string, versionId: string): Promise<VersionRow> {
  const row = await findVersion(db, assetId, versionId);
  if (!row) throw new NotFoundError(`version ${versionId} of asset ${assetId} not found`);
  return row;
}

type VersionCursor = { n: number };

export async function listVersions(db: Knex, assetId: string, q: { limit: number; cursor?: string }): Promise<Page<VersionJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is VersionCursor => Number.isInteger(p.n));
  const query = db('asset_versions')
    .where({ asset_id: assetId })
    .orderBy('version_number', 'desc')
    .limit(q.limit + 1);
  if (cursor) query.where('version_number', '<', cursor.n);
  const rows = (await query) as VersionRow[];
  return pageOf(rows, q.limit, toVersionJson, (row) => ({ n: row.version_number }));
}

const VERSION_COLUMNS = [
  'id',
  'asset_id',
  'version_number',
  'object_key',
  'size_bytes',
  'content_type',
  'checksum_sha256',
  'upload_id',
  'created_at',
  'superseded_at',
];

/**
 * Versions with their rank in their asset, newest first: `rank_all` among all its versions (the
 * current one is 1) and `noncurrent_rank` among its noncurrent ones. Pruning beyond
 * STORAGE_MAX_VERSIONS and the lifecycle sweeps (lib/lifecycle/sweep.ts) choose from it. A window needs
 * every version of an asset, so `assets` may narrow it to whole assets only.
 *
 * The ranks count the versions from each one to the newest, so the window runs in the order of
 * UNIQUE (asset_id, version_number), read forwards without a sort; ordered the same way, a query
 * over it stops at its LIMIT instead of ranking every version first. Removing older versions never
 * changes a newer one's rank.
 */
export function rankedVersions(db: Knex | Knex.Transaction, assets?: (query: Knex.QueryBuilder) => void) {
  const window = 'OVER (PARTITION BY v.asset_id ORDER BY v.version_number ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)';
  const query = db('asset_versions as v').select([
    ...VERSION_COLUMNS.map((c) => `v.${c}`),
    db.raw(`count(*) ${window} AS rank_all`),
    db.raw(`count(v.superseded_at) ${window} AS noncurrent_rank`),
  ]);
  if (assets) assets(query);
  return query;
}

/**
 * Noncurrent versions beyond the `max` newest of an asset, oldest first: what pruning removes.
 * The current version is never among them.
 */
export async function versionsBeyond(db: Knex, assetId: string, max: number): Promise<VersionRow[]> {
  return db
    .from(rankedVersions(db, (q) => q.where('v.asset_id', assetId)).as('r'))
    .select(VERSION_COLUMNS.map((c) => `r.${c}`))
    .whereNotNull('r.superseded_at')
    .where('r.rank_all', '>', max)
    .orderBy('r.version_number', 'asc');
}

/**
 * Removes versions' rows after their objects are gone, in the caller's transaction, and keeps each
 * asset's version_count. Never a current version; idempotent: answers the rows it removed.
 */
export async function deleteVersionRows(trx: Knex.Transaction, ids: string[]): Promise<Array<Pick<VersionRow, 'id' | 'asset_id' | 'size_bytes'>>> {
  if (ids.length === 0) return [];
  // Their assets first, in id order, then (through the usage triggers) their owners' usage rows: the
  // order an upload's commit takes them in, so the two never wait on each other in a cycle.
  await trx.raw('SELECT 1 FROM assets WHERE id IN (SELECT asset_id FROM asset_versions WHERE id = ANY(?::uuid[])) ORDER BY id FOR UPDATE', [ids]);
  const deleted: Array<Pick<VersionRow, 'id' | 'asset_id' | 'size_bytes'>> = await trx('asset_versions')
    .whereRaw('id = ANY(?::uuid[])', [ids])
    .whereNotNull('superseded_at')
    .delete()
    .returning(['id', 'asset_id', 'size_bytes']);
  const perAsset = new Map<string, number>();
  for (const row of deleted) perAsset.set(row.asset_id, (perAsset.get(row.asset_id) ?? 0) + 1);
  if (perAsset.size) {
    // In id order, so concurrent deleters lock assets in one order.
    const assetIds = [...perAsset.keys()].sort();
    await trx.raw(
      `UPDATE assets a SET version_count = a.version_count - d.n
         FROM unnest(?::uuid[], ?::int[]) AS d(asset_id, n)
        WHERE a.id = d.asset_id`,
      [assetIds, assetIds.map((id) => perAsset.get(id)!)],
    );
  }
  return deleted;
}

/** Removes a version's row after its object is gone; idempotent. */
export async function deleteVersionRow(db: Knex, version: Pick<VersionRow, 'id' | 'asset_id'>): Promise<boolean> {
  return db.transaction(async (trx) => (await deleteVersionRows(trx, [version.id])).length > 0);
}

/**
 * A version as its upload's session recorded it, for when its row is already gone: a newer upload of
 * the same asset pruned it past STORAGE_MAX_VERSIONS between the commit and the answer to its own
 * request. Only that rare race reads here.
 */
export async function committedVersion(db: Knex, assetId: string, versionId: string, uploadId: string): Promise<VersionJson | undefined> {
  const session = await db('upload_sessions').where({ id: uploadId, version_id: versionId, status: 'completed' }).first();
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
  };
}
