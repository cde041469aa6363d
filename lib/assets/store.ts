/**
 * The store of an asset (its row, its versions, its metadata and its grants): the only code that runs SQL against assets, asset_versions, asset_metadata and asset_grants
 * (with ./store/pointInTime.ts, the reads of a restore to a point in time, which write nothing).
 *
 * Invariants:
 * - assets: one row per asset, live or soft-deleted. `is_deleted` holds exactly when `deleted_at` is set
 *   (a CHECK): a soft-deleted asset is hidden but may be restored. `purging_since` is set once its
 *   permanent deletion has begun (lib/backups/handoff.ts markAssetPurging, activities/assets.ts): from
 *   then on no snapshot holds it, a restore of it is refused, and its rows only wait to be deleted.
 * - `revision` moves with every change of the asset's fields, its metadata and its grants (not with the
 *   version_count that pruning and expiry lower, nor with purging_since): it is the asset's ETag
 *   (lib/assets/assets.ts assetEtag), which If-Match compares, so a change of grants moves it like any
 *   other (lib/assets/grantChange.ts). A backup restore continues it past both the backup's and the
 *   live one. A change sent with If-Match compares it under the asset's row lock, in the transaction
 *   that makes the change (lib/assets/assets.ts lockedAssetAt); a new version's session under the
 *   share lock its insert takes (lib/uploads/sessions.ts insertUploadSession).
 * - Versions are numbered from `last_version_number`, bumped under the asset's row lock in the
 *   transaction that inserts the version: no gap, no duplicate (UNIQUE (asset_id, version_number)).
 *   `version_count` counts its version rows: whoever inserts or deletes versions sets it in the same
 *   transaction (a backup restore counts them again).
 * - At most one version of an asset is current: the one with `superseded_at` NULL, which is the one
 *   `current_version_id` names (NULL once that version's row is gone, ON DELETE SET NULL). The current
 *   version is never deleted alone: pruning and expiry remove noncurrent versions only.
 * - asset_versions.deleting_since: its object is about to go (lib/backups/handoff.ts); no snapshot
 *   holds it from then on. A prune or a lifecycle version expiry sets it only under the asset's row
 *   lock, on a version still noncurrent (markNoncurrentVersionsDeleting), and deletes the object
 *   only after that commit: a version made current again before it keeps its object (issue 26).
 *   `upload_id` is UNIQUE: committing an upload again finds its version.
 * - asset_versions.uploaded_by: the sub of the caller whose upload made the version (the session's
 *   actor, else its owner: lib/uploads/sessions.ts writeVersion), written with the row and never
 *   changed; a backup restore writes the backup's (NULL from a manifest written before it was
 *   recorded). NULL: not known (a version made before migration 041, whose session was gone by then).
 * - asset_metadata holds one value per key; asset_grants one access per subject (`user:<sub>` or
 *   `group:<name>`, `read` or `write`). Both are written only as a whole replace (replaceMetadata,
 *   writeGrants), under the asset's row lock, and go with the asset (ON DELETE CASCADE).
 * - The usage triggers keep owner_usage (lib/quotas) in step with assets and asset_versions.
 *
 * Lock order on an asset, which every writer follows:
 *   1. the asset's row: FOR UPDATE, or an UPDATE of it, which takes the same lock (a new version's
 *      session insert takes it FOR SHARE); several assets' rows in id order;
 *   2. its upload sessions' rows (upload_sessions, lib/uploads/store.ts);
 *   3. its version rows (asset_versions), several in id order;
 *   4. owner_usage (lib/quotas/store.ts), through the usage triggers and the quota checks.
 * Its metadata and grants rows are written only under 1 (and read under it), whenever in the
 * transaction. Rows of other families a writer adds (outbox_events, audit_log, restore_items) come
 * after the asset's row. A writer that takes no asset row takes a suffix of this order, in one
 * statement: markVersionsDeleting (lib/backups/handoff.ts) its versions in id order, a session's
 * status update its row then owner_usage. The writers: the upload's commit (lib/uploads/sessions.ts),
 * a session's insert, updates, soft deletes and restores (lib/assets/assets.ts), grant changes
 * (lib/assets/grantChange.ts with lib/uploads/sessionAccess.ts), pruning and the lifecycle sweeps
 * (claimVersionsForDeletion in lib/assets/versions.ts: 1 then 3, committed before any object goes;
 * then deleteVersionRows), the permanent deletion (activities/assets.ts, whose first step re-checks a
 * lifecycle purge under 1; the API starts one sent with If-Match while it holds 1 alone, released once
 * the run has started: lib/assets/assets.ts underAssetAt) and backup restores (lib/backups/restore.ts).
 * Known departures (issue 25 report): the lifecycle's expire_assets batch (lib/lifecycle/sweep.ts
 * expireAssetsBatch) locks its assets' rows in (updated_at, id) order, not id order; the permanent
 * deletion's last step and a backup restore reach version rows after owner_usage (through the usage
 * triggers), which only a writer that takes nothing after them (markVersionsDeleting) also locks.
 *
 * Object keys (issue 28): a writer that puts bytes at a key which may already hold an object no row
 * names (a backup restore copies to its versions' own keys) takes the key's transaction-level advisory
 * lock (lockObjectKeys), after the asset's row, in the transaction that commits the rows naming it,
 * and checks the object is there under it. The scrub removes an orphan only under the same lock, with
 * no row naming the key when looked at under it (lib/scrub/store.ts): so either the rows commit first
 * and the scrub leaves the object, or the removal commits first and the writer finds its object gone.
 */
import type { Knex } from 'knex';
import { allOf, exactTimeSql } from '../platform/db';
import type { AssetListQuery, AssetRow, VersionRow } from './rows';
import type { Grant } from './grants';

type Db = Knex | Knex.Transaction;

// ---------------------------------------------------------------------------------------------
// Assets

/** An asset's metadata as one JSON object, for a query over `assets as a`. */
export function metadataColumn(db: Db) {
  return db.raw(`COALESCE((SELECT jsonb_object_agg(m.key, m.value) FROM asset_metadata m WHERE m.asset_id = a.id), '{}'::jsonb) AS metadata`);
}

/** An asset's grants as one JSON array, by subject, for a query over `assets as a`. */
export function grantsColumn(db: Db) {
  return db.raw(
    `COALESCE((SELECT jsonb_agg(jsonb_build_object('subject', g.subject, 'access', g.access) ORDER BY g.subject)
                 FROM asset_grants g WHERE g.asset_id = a.id), '[]'::jsonb) AS grants`,
  );
}

/** Assets with their metadata and grants folded in: one query, whatever the page size. */
export function selectAssets(db: Db) {
  return db('assets as a').select('a.*', metadataColumn(db), grantsColumn(db));
}

export async function findAsset(db: Db, id: string, opts: { includeDeleted?: boolean } = {}): Promise<AssetRow | undefined> {
  const query = selectAssets(db).where('a.id', id);
  if (!opts.includeDeleted) query.where('a.is_deleted', false);
  return (await query.first()) as AssetRow | undefined;
}

/** The asset (deleted or not) with its current version's content facts as `cv_*` columns, in one query. */
export async function findAssetWithCurrentVersion(db: Db, id: string) {
  return selectAssets(db)
    .leftJoin('asset_versions as cv', 'cv.id', 'a.current_version_id')
    .select({
      cv_id: 'cv.id',
      cv_object_key: 'cv.object_key',
      cv_size_bytes: 'cv.size_bytes',
      cv_checksum_sha256: 'cv.checksum_sha256',
      cv_content_type: 'cv.content_type',
      cv_created_at: 'cv.created_at',
    })
    .where('a.id', id)
    .first();
}

/** Whom the asset belongs to, deleted or not; undefined once its row is gone. */
export async function findAssetOwner(db: Db, id: string): Promise<{ owner_id: string } | undefined> {
  return db('assets').where({ id }).first('owner_id');
}

export interface AssetFilterColumns {
  name: string;
  contentType: string;
  tags: string;
}

export const ASSET_FILTER_COLUMNS: AssetFilterColumns = { name: 'a.name', contentType: 'a.content_type', tags: 'a.tags' };

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * The filters GET /assets and lifecycle policies share, as one SQL condition over `cols`: a name
 * prefix, a content type (exact, or `type/*`), and tags that must all be there.
 */
export function assetFilterSql(db: Knex, filter: { name_prefix?: string; content_type?: string; tags?: string[] }, cols = ASSET_FILTER_COLUMNS): Knex.Raw {
  const parts: Knex.Raw[] = [];
  if (filter.name_prefix) parts.push(db.raw(`${cols.name} LIKE ? || '%'`, [escapeLike(filter.name_prefix)]));
  if (filter.content_type) {
    if (filter.content_type.endsWith('/*')) parts.push(db.raw(`${cols.contentType} LIKE ? || '%'`, [escapeLike(filter.content_type.slice(0, -1))]));
    else parts.push(db.raw(`${cols.contentType} = ?`, [filter.content_type]));
  }
  if (filter.tags?.length) parts.push(db.raw(`${cols.tags} @> ?::text[]`, [filter.tags]));
  return allOf(db, parts);
}

/** Every asset, as a condition over `assets as a`. */
export function everyAssetSql(db: Knex): Knex.Raw {
  return db.raw('(TRUE)');
}

/** The assets `sub` owns or that a grant gives one of `subjects`, as a condition over `assets as a`. */
export function ownedOrGrantedSql(db: Knex, sub: string, subjects: string[]): Knex.Raw {
  return db.raw('(a.owner_id = ? OR EXISTS (SELECT 1 FROM asset_grants g WHERE g.asset_id = a.id AND g.subject = ANY(?::text[])))', [sub, subjects]);
}

/** One page of GET /assets (one row more than the limit): `readable` is the caller's condition (lib/assets/permissions.ts readableBy). */
export async function selectAssetPage(
  db: Knex,
  readable: Knex.Raw,
  q: AssetListQuery,
  order: { column: 'name' | 'created_at'; direction: 'asc' | 'desc' },
  cursor: { k: string; id: string } | undefined,
): Promise<Array<AssetRow & { cursor_created_at: string }>> {
  const query = selectAssets(db).select(db.raw(`${exactTimeSql('a.created_at')} AS cursor_created_at`));
  if (q.only_deleted) query.where('a.is_deleted', true);
  else if (!q.include_deleted) query.where('a.is_deleted', false);
  if (q.owner_id !== undefined) query.where('a.owner_id', q.owner_id);
  query.where(readable);
  query.where(assetFilterSql(db, { name_prefix: q.name_prefix, content_type: q.content_type, tags: q.tag }));
  // The bounds compare created_at as the API shows it, to the millisecond (the column holds
  // microseconds): an asset is not "created after" the created_at it answered, nor is a later
  // asset of the same millisecond.
  if (q.created_after) query.where('a.created_at', '>=', new Date(q.created_after.getTime() + 1));
  if (q.created_before) query.where('a.created_at', '<', q.created_before);
  const { column, direction } = order;
  if (cursor) {
    const op = direction === 'asc' ? '>' : '<';
    if (column === 'created_at') query.whereRaw(`(a.created_at, a.id) ${op} (?::timestamptz, ?::uuid)`, [cursor.k, cursor.id]);
    else query.whereRaw(`(a.name, a.id) ${op} (?::text, ?::uuid)`, [cursor.k, cursor.id]);
  }
  query.orderBy([
    { column: `a.${column}`, order: direction },
    { column: 'a.id', order: direction },
  ]);
  return (await query.limit(q.limit + 1)) as Array<AssetRow & { cursor_created_at: string }>;
}

/** The asset's row, locked (FOR UPDATE), deleted or not. */
export async function lockAsset(trx: Knex.Transaction, id: string) {
  return trx('assets').where({ id }).forUpdate().first();
}

/** The live asset's row, locked (FOR UPDATE). */
export async function lockLiveAsset(trx: Knex | Knex.Transaction, id: string): Promise<AssetTableRow | undefined> {
  return trx('assets').where({ id, is_deleted: false }).forUpdate().first();
}

/** Takes the asset's row lock (FOR UPDATE) and reads nothing else of it. */
export async function lockAssetRow(trx: Knex.Transaction, id: string): Promise<void> {
  await trx('assets').where({ id }).forUpdate().first('id');
}

export async function updateAssetRow(trx: Knex.Transaction, id: string, fields: Record<string, unknown>): Promise<void> {
  await trx('assets').where({ id }).update(fields);
}

/** Soft-deletes the live asset, its revision moved: answers how many rows changed (0: none was live). */
export async function softDeleteLiveAsset(trx: Knex.Transaction, id: string): Promise<number> {
  return trx('assets')
    .where({ id, is_deleted: false })
    .update({ is_deleted: true, deleted_at: trx.fn.now(), revision: trx.raw('revision + 1') });
}

/** A soft-deleted asset live again, at `revision`. */
export async function markAssetRestored(trx: Knex.Transaction, id: string, revision: number): Promise<void> {
  await trx('assets').where({ id }).update({ is_deleted: false, deleted_at: null, revision });
}

/**
 * Moves the live asset's revision, which locks its row: its owner and the new revision, or undefined
 * when no live asset has the id.
 */
export async function bumpLiveAssetRevision(trx: Knex.Transaction, id: string): Promise<{ owner_id: string; revision: number } | undefined> {
  const [updated] = await trx('assets')
    .where({ id, is_deleted: false })
    .update({ revision: trx.raw('revision + 1') })
    .returning(['owner_id', 'revision']);
  return updated;
}

/** The asset hidden and marked purging (each kept if already set), its row already locked by the caller. */
export async function markAssetHiddenForDeletion(
  trx: Knex.Transaction,
  asset: { id: string; deleted_at: Date | null; purging_since: Date | null; revision: number },
): Promise<void> {
  await trx('assets')
    .where({ id: asset.id })
    .update({
      is_deleted: true,
      deleted_at: asset.deleted_at ?? trx.fn.now(),
      purging_since: asset.purging_since ?? trx.fn.now(),
      revision: asset.revision + 1,
    });
}

/** Deletes the asset's row; its versions, metadata, grants and new versions' sessions cascade. Answers how many rows went. */
export async function deleteAssetRow(trx: Knex.Transaction, id: string): Promise<number> {
  return trx('assets').where({ id }).delete();
}

export async function replaceMetadata(trx: Knex.Transaction, assetId: string, metadata: Record<string, string>) {
  await trx('asset_metadata').where({ asset_id: assetId }).delete();
  const rows = Object.entries(metadata).map(([key, value]) => ({ asset_id: assetId, key, value }));
  if (rows.length) await trx('asset_metadata').insert(rows);
}

/** Sets the asset's grants to exactly `grants`, in the caller's transaction. */
export async function writeGrants(trx: Knex.Transaction, assetId: string, grants: Grant[]): Promise<void> {
  await trx('asset_grants').where({ asset_id: assetId }).delete();
  if (grants.length) await trx('asset_grants').insert(grants.map((g) => ({ asset_id: assetId, subject: g.subject, access: g.access })));
}

// ---------------------------------------------------------------------------------------------
// Versions

export async function findVersion(db: Db, assetId: string, versionId: string): Promise<VersionRow | undefined> {
  return (await db('asset_versions').where({ id: versionId, asset_id: assetId }).first()) as VersionRow | undefined;
}

/** The asset's versions, newest first, below `beforeNumber` when given: `limit` + 1 of them. */
export async function selectVersionPage(db: Knex, assetId: string, limit: number, beforeNumber: number | undefined): Promise<VersionRow[]> {
  const query = db('asset_versions')
    .where({ asset_id: assetId })
    .orderBy('version_number', 'desc')
    .limit(limit + 1);
  if (beforeNumber !== undefined) query.where('version_number', '<', beforeNumber);
  return (await query) as VersionRow[];
}

/** The asset's versions whose objects are among `keys`, with `columns`. */
export async function versionsWithObjectKeys(db: Knex, assetId: string, keys: string[], columns: readonly string[]) {
  return db('asset_versions')
    .where({ asset_id: assetId })
    .whereIn('object_key', keys)
    .select(...columns);
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
export function rankedVersions(db: Db, assets?: (query: Knex.QueryBuilder) => void) {
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
export async function versionsBeyond(db: Db, assetId: string, max: number): Promise<VersionRow[]> {
  return db
    .from(rankedVersions(db, (q) => q.where('v.asset_id', assetId)).as('r'))
    .select(VERSION_COLUMNS.map((c) => `r.${c}`))
    .whereNotNull('r.superseded_at')
    .where('r.rank_all', '>', max)
    .orderBy('r.version_number', 'asc');
}

/** Locks the rows of the assets of versions `ids` (FOR UPDATE), in id order: step 1 of the lock order. */
export async function lockAssetsOfVersions(trx: Knex.Transaction, ids: string[]): Promise<void> {
  await trx.raw('SELECT 1 FROM assets WHERE id IN (SELECT asset_id FROM asset_versions WHERE id = ANY(?::uuid[])) ORDER BY id FOR UPDATE', [ids]);
}

/** A version whose object a deletion is about to remove, with what the backups' hand-off needs. */
export type DeletingVersion = Pick<VersionRow, 'id' | 'asset_id' | 'version_number' | 'object_key' | 'checksum_sha256' | 'size_bytes'>;

/**
 * Marks `deleting_since` (kept if already set) on those of versions `ids` that are still noncurrent,
 * their rows locked in id order; answers them. The caller holds their assets' rows (lockAssetsOfVersions):
 * a version made current again (an overwrite restore) is left out, and once marked it is no snapshot's.
 */
export async function markNoncurrentVersionsDeleting(trx: Knex.Transaction, ids: string[]): Promise<DeletingVersion[]> {
  if (ids.length === 0) return [];
  const { rows } = await trx.raw<{ rows: DeletingVersion[] }>(
    `UPDATE asset_versions v SET deleting_since = COALESCE(v.deleting_since, now())
      WHERE v.id IN (SELECT id FROM asset_versions WHERE id = ANY(?::uuid[]) AND superseded_at IS NOT NULL ORDER BY id FOR UPDATE)
        AND v.superseded_at IS NOT NULL
     RETURNING v.id, v.asset_id, v.version_number, v.object_key, v.checksum_sha256, v.size_bytes`,
    [ids],
  );
  return rows.sort((a, b) => a.asset_id.localeCompare(b.asset_id) || a.version_number - b.version_number);
}

/**
 * Removes versions' rows after their objects are gone, in the caller's transaction, and keeps each
 * asset's version_count. Never a current version; idempotent: answers the rows it removed.
 */
export async function deleteVersionRows(trx: Knex.Transaction, ids: string[]): Promise<Array<Pick<VersionRow, 'id' | 'asset_id' | 'size_bytes'>>> {
  if (ids.length === 0) return [];
  // Their assets first, in id order, then (through the usage triggers) their owners' usage rows: the
  // order an upload's commit takes them in, so the two never wait on each other in a cycle.
  await lockAssetsOfVersions(trx, ids);
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

// ---- used by uploads (moved from lib/uploads/sessions.ts, lib/uploads/sessionAccess.ts) ----

/** An asset's row as a SELECT reads it (its grants and metadata are rows of their own). */
type AssetTableRow = Omit<AssetRow, 'grants' | 'metadata'>;

/** A live asset's owner, its row share-locked (an upload session opening on it). */
export async function shareLockLiveAssetOwner(db: Knex | Knex.Transaction, assetId: string): Promise<{ owner_id: string; revision: number } | undefined> {
  return db('assets').where({ id: assetId, is_deleted: false }).forShare().first('owner_id', 'revision');
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
  row: Omit<VersionRow, 'created_at' | 'superseded_at'> & { upload_id: string },
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

// ---- used by lifecycle (moved from lib/lifecycle/sweep.ts) ----
// A sweep's candidates: `rules` is the phase's predicate and age bound (lib/lifecycle/store.ts), `after`
// a keyset position of exact time text and id.

/** Soft-deleted assets a purge takes, oldest deletion first, each with the bytes of all its versions. */
export async function selectPurgeCandidates(
  db: Knex,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; at: string; size_bytes: number }>> {
  const query = db('assets as a')
    .select(
      'a.id',
      db.raw(`${exactTimeSql('a.deleted_at')} AS at`),
      db.raw('(SELECT COALESCE(sum(v.size_bytes), 0) FROM asset_versions v WHERE v.asset_id = a.id)::bigint AS size_bytes'),
    )
    .where('a.is_deleted', true)
    .where('a.deleted_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.deleted_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.deleted_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
}

/** Live assets expire_assets takes, least recently updated first; with `lock`, locked FOR UPDATE. */
export async function selectExpireCandidates(
  trx: Knex.Transaction,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
  lock: boolean,
): Promise<Array<{ id: string; at: string }>> {
  const query = trx('assets as a')
    .select('a.id', trx.raw(`${exactTimeSql('a.updated_at')} AS at`))
    .where('a.is_deleted', false)
    .where('a.updated_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.updated_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.updated_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return lock ? query.forUpdate() : query;
}

/** Soft-deletes those of `ids` still live; answers their ids. */
export async function softDeleteLiveAssets(trx: Knex.Transaction, ids: string[]): Promise<Array<{ id: string }>> {
  return trx('assets')
    .whereRaw('id = ANY(?::uuid[])', [ids])
    .where('is_deleted', false)
    .update({ is_deleted: true, deleted_at: trx.fn.now(), revision: trx.raw('revision + 1') })
    .returning('id');
}

/** The next `limit` asset ids in id order, after `after` (or from it, `inclusive`). */
export async function selectAssetIdsFrom(db: Knex, after: { id: string; inclusive: boolean } | null, limit: number): Promise<string[]> {
  const next = db('assets').orderBy('id').limit(limit);
  if (after) next.where('id', after.inclusive ? '>=' : '>', after.id);
  return next.pluck('id');
}

/**
 * Noncurrent versions `rules` takes (alias `r`, ranked per asset by rankedVersions) among the assets
 * `from`..`to`, in (asset, version) order after `after`; none of an asset `purge` takes.
 */
export function selectVersionCandidates(
  db: Knex,
  rules: Knex.Raw,
  purge: Knex.Raw | undefined,
  range: { from: string; to: string; after?: { asset_id: string; version_number: number | null } },
  limit: number,
): Knex.QueryBuilder {
  const query = db('assets as a')
    // (knex types raw bindings as values; a query builder binding is a subquery, as documented.)
    .joinRaw('CROSS JOIN LATERAL ? AS r', [rankedVersions(db, (q) => q.whereRaw('v.asset_id = a.id')) as unknown as Knex.Value])
    .select('r.id', 'r.asset_id', 'r.version_number', 'r.object_key', 'r.size_bytes')
    .whereBetween('a.id', [range.from, range.to])
    .whereNotNull('r.superseded_at')
    .where(rules)
    .orderBy(['a.id', 'r.version_number'])
    .limit(limit);
  const after = range.after;
  if (after?.version_number != null) query.whereRaw('(r.asset_id, r.version_number) > (?::uuid, ?::int)', [after.asset_id, after.version_number]);
  if (purge) query.whereRaw('NOT (a.is_deleted AND (?))', [purge]);
  return query;
}

// ---- used by lifecycle (moved from activities/lifecycle.ts) ----

/** The rows of versions being retired, with the columns the backups' handoff needs. */
export async function selectVersionsById<Row>(db: Knex, ids: string[], columns: readonly string[]): Promise<Row[]> {
  return (await db('asset_versions')
    .whereIn('id', ids)
    .select(...columns)) as Row[];
}

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

/** Assets and the bytes of all their versions, live and soft-deleted apart (the metrics' figures). */
export async function countAssetsByState(db: Knex): Promise<Array<{ state: string; assets: number; bytes: number }>> {
  const assets = await db.raw(`
    SELECT CASE WHEN a.is_deleted THEN 'deleted' ELSE 'live' END AS state,
           count(DISTINCT a.id)::int AS assets,
           COALESCE(sum(v.size_bytes), 0)::bigint AS bytes
      FROM assets a LEFT JOIN asset_versions v ON v.asset_id = a.id
     GROUP BY 1`);
  return assets.rows;
}

// ---- used by backups (moved from lib/backups/restore.ts, handoff.ts, manifest.ts, backupRuns.ts, activities/backups/backup.ts) ----

/** Of `ids`, those an asset has (startBackup: the assets a backup's scope names). */
export async function existingAssetIds(db: Knex, ids: string[]): Promise<string[]> {
  return db('assets').whereRaw('id = ANY(?::uuid[])', [ids]).pluck('id');
}

/** Step 1 of a deletion for versions (lib/backups/handoff.ts): their rows locked in id order. */
export async function markVersionRowsDeleting(db: Knex, ids: string[]): Promise<void> {
  await db.raw(
    `UPDATE asset_versions SET deleting_since = now()
      WHERE id IN (SELECT id FROM asset_versions WHERE id = ANY(?::uuid[]) AND deleting_since IS NULL ORDER BY id FOR UPDATE)`,
    [ids],
  );
}

/** Step 1 of a deletion for a whole asset (lib/backups/handoff.ts). */
export async function markAssetRowPurging(db: Knex, assetId: string): Promise<void> {
  await db('assets').where({ id: assetId }).whereNull('purging_since').update({ purging_since: db.fn.now() });
}

/** Other versions holding a content, to back it up from (the manifest's source may be gone). */
export async function otherVersionsWithContent(
  db: Knex,
  sha256: string,
  exceptObjectKey: string,
): Promise<Array<{ object_key: string; asset_id: string; id: string }>> {
  return db('asset_versions').where({ checksum_sha256: sha256 }).whereNot({ object_key: exceptObjectKey }).limit(3).select('object_key', 'asset_id', 'id');
}

/** What a restore compares the backup with: the asset's row and its versions. */
export async function restoreLiveAssetRow<T>(db: Knex | Knex.Transaction, assetId: string): Promise<T | undefined> {
  return (await db('assets').where({ id: assetId }).select('id', 'is_deleted', 'last_version_number', 'revision').first()) as T | undefined;
}

export async function restoreLiveVersionRows<T>(db: Knex | Knex.Transaction, assetId: string): Promise<T[]> {
  return (await db('asset_versions')
    .where({ asset_id: assetId })
    .orderBy('version_number')
    .select('id', 'version_number', 'object_key', 'size_bytes', 'checksum_sha256', 'superseded_at')) as T[];
}

/**
 * Takes the advisory locks of object keys (transaction-level, sorted: two holders of several wait,
 * never deadlock). Taken after any asset row; the scrub takes one alone.
 */
export async function lockObjectKeys(trx: Knex.Transaction, keys: string[]): Promise<void> {
  for (const key of [...new Set(keys)].sort()) await trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('object_key:' || ?, 0))", [key]);
}

/** The asset's row, locked for a restore's commit. */
export async function lockAssetRowForRestore<T>(trx: Knex.Transaction, assetId: string): Promise<T | undefined> {
  return (await trx('assets').where({ id: assetId }).forUpdate().first()) as T | undefined;
}

export async function deleteAssetVersionRows(trx: Knex.Transaction, assetId: string, ids: string[]): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereIn('id', ids).delete();
}

export async function assetVersionIds(trx: Knex.Transaction, assetId: string): Promise<string[]> {
  return trx('asset_versions').where({ asset_id: assetId }).pluck('id');
}

export async function insertRestoredAssetRow(trx: Knex.Transaction, row: Record<string, unknown>): Promise<void> {
  await trx('assets').insert(row);
}

export async function updateRestoredAssetRow(trx: Knex.Transaction, assetId: string, fields: Record<string, unknown>): Promise<void> {
  await trx('assets').where({ id: assetId }).update(fields);
}

export async function insertRestoredVersionRows(trx: Knex.Transaction, rows: Array<Record<string, unknown>>): Promise<void> {
  await trx('asset_versions').insert(rows);
}

export async function setVersionSupersededAt(trx: Knex.Transaction, versionId: string, supersededAt: string | null): Promise<void> {
  await trx('asset_versions').where({ id: versionId }).update({ superseded_at: supersededAt });
}

/** Supersedes, now, the asset's current versions other than `keep`. */
export async function supersedeVersionsOutside(trx: Knex.Transaction, assetId: string, keep: string[]): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereNotIn('id', keep).whereNull('superseded_at').update({ superseded_at: trx.fn.now() });
}

export async function newestVersionRow<T>(trx: Knex.Transaction, assetId: string): Promise<T | undefined> {
  return (await trx('asset_versions').where({ asset_id: assetId }).orderBy('version_number', 'desc').first()) as T | undefined;
}

/** Supersedes, now, the asset's current versions but `versionId`. */
export async function supersedeVersionsBut(trx: Knex.Transaction, assetId: string, versionId: string): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereNot({ id: versionId }).whereNull('superseded_at').update({ superseded_at: trx.fn.now() });
}

export async function countAssetVersionRows(trx: Knex.Transaction, assetId: string): Promise<number> {
  const [{ n }] = await trx('asset_versions').where({ asset_id: assetId }).count({ n: '*' });
  return Number(n);
}

function backupsInScope(query: Knex.QueryBuilder, scope: { asset_ids?: string[] }) {
  if (scope.asset_ids) query.whereRaw('a.id = ANY(?::uuid[])', [scope.asset_ids]);
  return query;
}

/** A page of a backup manifest's asset lines, read in its snapshot (lib/backups/manifest.ts). */
export async function manifestAssetPage<T>(trx: Knex.Transaction, scope: { asset_ids?: string[] }, after: string | null, pageSize: number): Promise<T[]> {
  const query = trx('assets as a')
    .select(
      trx.raw(`'asset' AS type`),
      'a.id',
      'a.name',
      'a.content_type',
      'a.size_bytes',
      'a.checksum_sha256',
      'a.current_version_id',
      // Versions being deleted are left out (lib/backups/handoff.ts): the count is what it will be.
      trx.raw('(a.version_count - (SELECT count(*) FROM asset_versions d WHERE d.asset_id = a.id AND d.deleting_since IS NOT NULL))::int AS version_count'),
      'a.last_version_number',
      'a.tags',
      trx.raw(`COALESCE((SELECT jsonb_object_agg(m.key, m.value) FROM asset_metadata m WHERE m.asset_id = a.id), '{}'::jsonb) AS metadata`),
      'a.owner_id',
      'a.revision',
      trx.raw(
        `COALESCE((SELECT jsonb_agg(jsonb_build_object('subject', g.subject, 'access', g.access) ORDER BY g.subject)
                 FROM asset_grants g WHERE g.asset_id = a.id), '[]'::jsonb) AS grants`,
      ),
      'a.is_deleted',
      trx.raw(`${exactTimeSql('a.deleted_at')} AS deleted_at`),
      trx.raw(`${exactTimeSql('a.created_at')} AS created_at`),
      trx.raw(`${exactTimeSql('a.updated_at')} AS updated_at`),
    )
    .whereNull('a.purging_since')
    .orderBy('a.id')
    .limit(pageSize);
  if (after) query.where('a.id', '>', after);
  return backupsInScope(query, scope);
}

/** The version lines of those assets (only current versions unless `allVersions`), in the manifest's snapshot. */
export async function manifestVersionsOf<T>(trx: Knex.Transaction, assetIds: string[], allVersions: boolean): Promise<T[]> {
  const query = trx('asset_versions as v')
    .select(
      trx.raw(`'version' AS type`),
      'v.id',
      'v.asset_id',
      'v.version_number',
      'v.object_key',
      'v.size_bytes',
      'v.content_type',
      'v.checksum_sha256',
      'v.upload_id',
      'v.uploaded_by',
      trx.raw(`${exactTimeSql('v.created_at')} AS created_at`),
      trx.raw(`${exactTimeSql('v.superseded_at')} AS superseded_at`),
    )
    .whereRaw('v.asset_id = ANY(?::uuid[])', [assetIds])
    .whereNull('v.deleting_since')
    .orderBy([{ column: 'v.asset_id' }, { column: 'v.version_number' }]);
  if (!allVersions) query.join('assets as a', 'a.current_version_id', 'v.id');
  return query;
}

/** The SQL of one row per distinct content in a backup's scope, with the version it is copied from (the first by key). */
export function manifestBlobsSql(trx: Knex.Transaction, scope: { asset_ids?: string[]; include_all_versions: boolean }) {
  const query = trx('asset_versions as v')
    .join('assets as a', 'a.id', 'v.asset_id')
    .distinctOn('v.checksum_sha256')
    .select('v.checksum_sha256 as sha256', 'v.size_bytes', 'v.asset_id', 'v.id as version_id', 'v.object_key')
    .whereNull('v.deleting_since')
    .whereNull('a.purging_since')
    .orderBy([{ column: 'v.checksum_sha256' }, { column: 'v.object_key' }]);
  if (!scope.include_all_versions) query.whereRaw('v.id = a.current_version_id');
  return backupsInScope(query, scope).toSQL();
}

// ---- used by cache (new, for lib/cache/assetCache.ts) ----

/**
 * The version of the asset's row as it stands: its `xmin`, the transaction that wrote this row
 * version. Every UPDATE of the row (any column: revision, version_count, purging_since...) and a new
 * row under the same id give another one, and each change of metadata or grants updates the row in
 * its transaction (its revision). Undefined once the row is gone. A primary-key lookup; row locks
 * (FOR UPDATE, FOR SHARE) leave it as it is.
 */
export async function assetRowVersion(db: Db, id: string): Promise<string | undefined> {
  const found = (await db('assets').where({ id }).first(db.raw('xmin::text AS row_version'))) as { row_version: string } | undefined;
  return found?.row_version;
}

// ---- used by backups (issue 26: a restore meets a deletion; lib/backups/restore.ts, activities/backups/restoreAsset.ts) ----

/** The asset's purging_since, or undefined when it has no row. */
export async function assetPurgingSince(db: Knex | Knex.Transaction, assetId: string): Promise<{ purging_since: Date | null } | undefined> {
  return db('assets').where({ id: assetId }).first('purging_since');
}

/**
 * Of the asset's versions `ids`, those a deletion has claimed (`deleting_since` set), and whether the
 * claim is older than `abandonedAfterSeconds` by the database's clock.
 */
export async function claimedVersionRows(
  db: Knex | Knex.Transaction,
  assetId: string,
  ids: string[],
  abandonedAfterSeconds: number,
): Promise<Array<{ id: string; abandoned: boolean }>> {
  if (ids.length === 0) return [];
  return db('asset_versions')
    .where({ asset_id: assetId })
    .whereIn('id', ids)
    .whereNotNull('deleting_since')
    .select('id', db.raw('deleting_since < now() - make_interval(secs => ?) AS abandoned', [abandonedAfterSeconds]));
}

/** Drops the claims on versions `ids` (a restore took over abandoned claims), under their asset's row lock. */
export async function clearVersionClaims(trx: Knex.Transaction, assetId: string, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await trx('asset_versions').where({ asset_id: assetId }).whereIn('id', ids).update({ deleting_since: null });
}
