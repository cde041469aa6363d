import type { Knex } from 'knex';
import { ConflictError, NotFoundError, StaleRevisionError } from '../platform/errors';
import { recordEvent } from '../events/outbox';
import { allOf, exactTimeSql } from '../platform/db';
import { UUID_PATTERN } from '../platform/ids';
import type { DatesAsText } from '../platform/jsonDates';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import type { Actor } from '../auth/actor';
import type { AuditTrail } from '../audit/log';
import { grantsSeenBy, readableBy } from './permissions';
import { grantsColumn, type Grant } from './grants';

export interface AssetRow {
  id: string;
  name: string;
  content_type: string;
  size_bytes: number;
  checksum_sha256: string | null;
  current_version_id: string | null;
  version_count: number;
  last_version_number: number;
  revision: number;
  tags: string[];
  metadata: Record<string, string>;
  /** The user it belongs to (`system` for assets made before owners existed). */
  owner_id: string;
  grants: Grant[];
  is_deleted: boolean;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type AssetJson = DatesAsText<Omit<AssetRow, 'revision' | 'last_version_number'>>;

/** The asset as `viewer` is shown it: its grants are theirs to see only in part, unless they may change them. */
export function toAssetJson(row: AssetRow, viewer: Actor): AssetJson {
  return {
    id: row.id,
    name: row.name,
    content_type: row.content_type,
    size_bytes: row.size_bytes,
    checksum_sha256: row.checksum_sha256,
    current_version_id: row.current_version_id,
    version_count: row.version_count,
    metadata: row.metadata,
    tags: row.tags,
    owner_id: row.owner_id,
    grants: grantsSeenBy(viewer, row),
    is_deleted: row.is_deleted,
    deleted_at: row.deleted_at ? row.deleted_at.toISOString() : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The ETag of the asset resource (not of its bytes): changes whenever a field of the asset does. */
export function assetEtag(row: Pick<AssetRow, 'revision'>): string {
  return `"r${row.revision}"`;
}

/** An asset's metadata as one JSON object, for a query over `assets as a`. */
export function metadataColumn(db: Knex | Knex.Transaction) {
  return db.raw(`COALESCE((SELECT jsonb_object_agg(m.key, m.value) FROM asset_metadata m WHERE m.asset_id = a.id), '{}'::jsonb) AS metadata`);
}

/** Assets with their metadata and grants folded in: one query, whatever the page size. */
export function selectAssets(db: Knex | Knex.Transaction) {
  return db('assets as a').select('a.*', metadataColumn(db), grantsColumn(db));
}

export async function findAsset(db: Knex | Knex.Transaction, id: string, opts: { includeDeleted?: boolean } = {}): Promise<AssetRow | undefined> {
  const query = selectAssets(db).where('a.id', id);
  if (!opts.includeDeleted) query.where('a.is_deleted', false);
  return (await query.first()) as AssetRow | undefined;
}

export async function getAsset(db: Knex | Knex.Transaction, id: string, opts: { includeDeleted?: boolean } = {}): Promise<AssetRow> {
  const row = await findAsset(db, id, opts);
  if (!row) throw new NotFoundError(`asset ${id} not found`);
  return row;
}

export type AssetSort = 'created_at' | '-created_at' | 'name';

export interface AssetListQuery {
  limit: number;
  cursor?: string;
  name_prefix?: string;
  content_type?: string;
  tag?: string[];
  created_after?: Date;
  created_before?: Date;
  include_deleted?: boolean;
  sort: AssetSort;
}

type AssetCursor = { s: AssetSort; k: string; id: string };

/** A created_at cursor key: the stored time to the microsecond, UTC (a JS Date would cut it to ms). */
const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export interface AssetFilterColumns {
  name: string;
  contentType: string;
  tags: string;
}

export const ASSET_FILTER_COLUMNS: AssetFilterColumns = { name: 'a.name', contentType: 'a.content_type', tags: 'a.tags' };

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

/** GET /assets: a page of the assets `actor` may read. */
export async function listAssets(db: Knex, actor: Actor, q: AssetListQuery): Promise<Page<AssetJson>> {
  const cursor = decodeCursor(
    q.cursor,
    (p): p is AssetCursor =>
      p.s === q.sort && typeof p.k === 'string' && typeof p.id === 'string' && UUID_PATTERN.test(p.id) && (q.sort === 'name' || CURSOR_TIME.test(p.k)),
  );
  const query = selectAssets(db).select(db.raw(`${exactTimeSql('a.created_at')} AS cursor_created_at`));
  if (!q.include_deleted) query.where('a.is_deleted', false);
  query.where(readableBy(db, actor));
  query.where(assetFilterSql(db, { name_prefix: q.name_prefix, content_type: q.content_type, tags: q.tag }));
  // The bounds compare created_at as the API shows it, to the millisecond (the column holds
  // microseconds): an asset is not "created after" the created_at it answered, nor is a later
  // asset of the same millisecond.
  if (q.created_after) query.where('a.created_at', '>=', new Date(q.created_after.getTime() + 1));
  if (q.created_before) query.where('a.created_at', '<', q.created_before);

  const [column, direction] = q.sort === 'name' ? ['name', 'asc'] : q.sort === 'created_at' ? ['created_at', 'asc'] : ['created_at', 'desc'];
  if (cursor) {
    const op = direction === 'asc' ? '>' : '<';
    if (column === 'created_at') query.whereRaw(`(a.created_at, a.id) ${op} (?::timestamptz, ?::uuid)`, [cursor.k, cursor.id]);
    else query.whereRaw(`(a.name, a.id) ${op} (?::text, ?::uuid)`, [cursor.k, cursor.id]);
  }
  query.orderBy([
    { column: `a.${column}`, order: direction },
    { column: 'a.id', order: direction },
  ]);
  const rows = (await query.limit(q.limit + 1)) as Array<AssetRow & { cursor_created_at: string }>;
  return pageOf(
    rows,
    q.limit,
    (row) => toAssetJson(row, actor),
    (row) => ({
      s: q.sort,
      // The exact stored key: a key cut to the millisecond would repeat or skip rows at the page edge.
      k: column === 'name' ? row.name : row.cursor_created_at,
      id: row.id,
    }),
  );
}

export interface AssetPatch {
  name?: string;
  content_type?: string;
  metadata?: Record<string, string>;
  tags?: string[];
}

export async function replaceMetadata(trx: Knex.Transaction, assetId: string, metadata: Record<string, string>) {
  await trx('asset_metadata').where({ asset_id: assetId }).delete();
  const rows = Object.entries(metadata).map(([key, value]) => ({ asset_id: assetId, key, value }));
  if (rows.length) await trx('asset_metadata').insert(rows);
}

/** PUT /assets/{id}: the given fields replace the asset's; `ifMatch` is an ETag the client read. */
export async function updateAsset(db: Knex, id: string, patch: AssetPatch, ifMatch: string | undefined, audit: AuditTrail): Promise<AssetRow> {
  return db.transaction(async (trx) => {
    const current = await trx('assets').where({ id, is_deleted: false }).forUpdate().first();
    if (!current) throw new NotFoundError(`asset ${id} not found`);
    if (ifMatch !== undefined && !etagMatches(ifMatch, assetEtag(current), { strong: true })) {
      throw new StaleRevisionError(`asset ${id} has changed: its ETag is ${assetEtag(current)}`);
    }
    const fields: Record<string, unknown> = { revision: current.revision + 1 };
    if (patch.name !== undefined) fields.name = patch.name;
    if (patch.content_type !== undefined) fields.content_type = patch.content_type;
    if (patch.tags !== undefined) fields.tags = patch.tags;
    await trx('assets').where({ id }).update(fields);
    if (patch.metadata !== undefined) await replaceMetadata(trx, id, patch.metadata);
    await recordEvent(trx, 'storage.asset.updated', id, { asset_id: id, changed: Object.keys(patch) });
    await audit.record(trx);
    return getAsset(trx, id);
  });
}

/**
 * If-Match / If-None-Match lists: `*`, or comma-separated entity tags. If-None-Match compares weakly
 * (a `W/` tag matches); If-Match strongly (RFC 9110 13.1.1: a weak tag never matches).
 */
export function etagMatches(header: string, etag: string, opts: { strong?: boolean } = {}): boolean {
  const tags = header.split(',').map((t) => t.trim());
  if (tags.includes('*')) return true;
  if (opts.strong) return !etag.startsWith('W/') && tags.includes(etag);
  const opaque = (t: string) => t.replace(/^W\//, '');
  return tags.some((t) => opaque(t) === opaque(etag));
}

export async function softDeleteAsset(db: Knex, id: string, audit: AuditTrail): Promise<void> {
  await db.transaction(async (trx) => {
    const updated = await trx('assets')
      .where({ id, is_deleted: false })
      .update({ is_deleted: true, deleted_at: trx.fn.now(), revision: trx.raw('revision + 1') });
    if (!updated) throw new NotFoundError(`asset ${id} not found`);
    await recordEvent(trx, 'storage.asset.deleted', id, { asset_id: id, permanent: false });
    await audit.record(trx);
  });
}

export async function restoreAsset(db: Knex, id: string, audit: AuditTrail): Promise<AssetRow> {
  return db.transaction(async (trx) => {
    const row = await trx('assets').where({ id }).forUpdate().first();
    if (!row) throw new NotFoundError(`asset ${id} not found`);
    if (!row.is_deleted) throw new ConflictError(`asset ${id} is not deleted`);
    // A permanent deletion under way goes on to delete its objects and rows: restored, the asset would vanish after all.
    if (row.purging_since) throw new ConflictError(`asset ${id} is being deleted for good: it cannot be restored`);
    await trx('assets')
      .where({ id })
      .update({ is_deleted: false, deleted_at: null, revision: row.revision + 1 });
    await recordEvent(trx, 'storage.asset.updated', id, { asset_id: id, restored: true });
    await audit.record(trx);
    return getAsset(trx, id);
  });
}
