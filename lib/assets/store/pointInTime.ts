/**
 * The asset store's reads for a restore to a point in time (lib/backups/pointInTime.ts): which assets
 * a filter matches, and what an asset and its kept versions say of a past moment. Reads only, each one
 * statement outside any transaction: the writes a restore makes go through the upload commit and the
 * asset's restore (lib/uploads/sessions.ts, lib/assets/assets.ts), under the lock order of ../store.ts.
 *
 * The version current at a moment T is the one created at or before T and not superseded until after
 * T (`superseded_at` is when a version stopped being current: lib/assets/store.ts). Its row gone
 * (pruned, deleted, expired), the versions no longer reach back to T; one whose deletion has claimed
 * it (`deleting_since`) is as good as gone, and so is one a scrub marked damaged (`damaged_at`: its
 * bytes are wrong, a copy of them would fail its hash).
 */
import type { Knex } from 'knex';

/** Which assets a point-in-time restore deals with: every condition given must hold. */
export interface AssetFilter {
  asset_ids?: string[];
  owner_id?: string;
  tag?: string;
  /** The assets a grant gives to `group:<group>`. */
  group?: string;
}

/** The ids of the assets (live, soft-deleted or being purged) `filter` matches after `after`, by id. */
export async function filteredAssetIds(db: Knex, filter: AssetFilter, after: string | null, limit: number): Promise<string[]> {
  const query = filteredAssets(db, filter).orderBy('a.id').limit(limit);
  if (after) query.where('a.id', '>', after);
  return query.pluck('a.id');
}

function filteredAssets(db: Knex, filter: AssetFilter): Knex.QueryBuilder {
  const query = db('assets as a');
  if (filter.asset_ids) query.whereIn('a.id', filter.asset_ids);
  if (filter.owner_id !== undefined) query.where('a.owner_id', filter.owner_id);
  if (filter.tag !== undefined) query.whereRaw('a.tags @> ARRAY[?]::text[]', [filter.tag]);
  if (filter.group !== undefined)
    query.whereExists((q) => q.from('asset_grants as g').whereRaw('g.asset_id = a.id').where('g.subject', `group:${filter.group}`));
  return query;
}

/** An asset as a point-in-time restore looks at it now. */
export interface AssetNow {
  id: string;
  name: string;
  owner_id: string;
  checksum_sha256: string | null;
  current_version_id: string | null;
  is_deleted: boolean;
  deleted_at: Date | null;
  purging_since: Date | null;
  created_at: Date;
  /** Its current version is marked damaged by a scrub: its content is not what its SHA-256 says. */
  current_damaged: boolean;
}

export async function assetNow(db: Knex, assetId: string): Promise<AssetNow | undefined> {
  return db('assets as a')
    .leftJoin('asset_versions as v', 'v.id', 'a.current_version_id')
    .where('a.id', assetId)
    .first(
      ...['id', 'name', 'owner_id', 'checksum_sha256', 'current_version_id', 'is_deleted', 'deleted_at', 'purging_since', 'created_at'].map((c) => `a.${c}`),
      db.raw('v.damaged_at IS NOT NULL AS current_damaged'),
    );
}

export interface KeptVersion {
  id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
  content_type: string;
  checksum_sha256: string;
  created_at: Date;
}

/** The kept version that was current at `asOf`, unless it is gone or being deleted. */
export async function versionCurrentAt(db: Knex, assetId: string, asOf: Date): Promise<KeptVersion | undefined> {
  const row = await db('asset_versions')
    .where({ asset_id: assetId })
    .where('created_at', '<=', asOf)
    .where((q) => q.whereNull('superseded_at').orWhere('superseded_at', '>', asOf))
    .whereNull('deleting_since')
    .whereNull('damaged_at')
    .orderBy('version_number', 'desc')
    .first('id', 'version_number', 'object_key', 'size_bytes', 'content_type', 'checksum_sha256', 'created_at');
  return row && { ...row, size_bytes: Number(row.size_bytes) };
}

/** When its oldest kept version was made (how far its versions reach back), or undefined when it has none. */
export async function oldestKeptVersionAt(db: Knex, assetId: string): Promise<Date | undefined> {
  const row = await db('asset_versions').where({ asset_id: assetId }).whereNull('deleting_since').min('created_at as at').first();
  return row?.at ?? undefined;
}

/** How many assets `filter` matches now. */
export async function filteredAssetCount(db: Knex, filter: AssetFilter): Promise<number> {
  const ids = filteredAssets(db, filter);
  const row = await ids.count<{ n: string }>('* as n').first();
  return Number(row?.n ?? 0);
}
