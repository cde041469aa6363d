import type { Knex } from 'knex';
import { ConflictError, NotFoundError, ValidationError } from '../platform/errors';
import { ensureIfMatch } from '../platform/etags';
import { recordEvent } from '../events/outbox';
import { UUID_PATTERN } from '../platform/ids';
import type { DatesAsText } from '../platform/jsonDates';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import type { Actor } from '../auth/actor';
import type { AuditTrail } from '../audit/log';
import { grantsSeenBy, readableBy } from './permissions';
import type { AssetListQuery, AssetRow, AssetSort } from './rows';
import { findAsset, lockAsset, lockLiveAsset, markAssetRestored, replaceMetadata, selectAssetPage, softDeleteLiveAsset, updateAssetRow } from './store';
export type { AssetListQuery, AssetRow, AssetSort } from './rows';

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

export async function getAsset(db: Knex | Knex.Transaction, id: string, opts: { includeDeleted?: boolean } = {}): Promise<AssetRow> {
  const row = await findAsset(db, id, opts);
  if (!row) throw new NotFoundError(`asset ${id} not found`);
  return row;
}

type AssetCursor = { s: AssetSort; k: string; id: string };

/** A created_at cursor key: the stored time to the microsecond, UTC (a JS Date would cut it to ms). */
const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/;

const ORDER_OF: Record<AssetSort, { column: 'name' | 'created_at'; direction: 'asc' | 'desc' }> = {
  name: { column: 'name', direction: 'asc' },
  created_at: { column: 'created_at', direction: 'asc' },
  '-created_at': { column: 'created_at', direction: 'desc' },
};

/** GET /assets: a page of the assets `actor` may read. */
export async function listAssets(db: Knex, actor: Actor, q: AssetListQuery): Promise<Page<AssetJson>> {
  const cursor = decodeCursor(
    q.cursor,
    (p): p is AssetCursor =>
      p.s === q.sort && typeof p.k === 'string' && typeof p.id === 'string' && UUID_PATTERN.test(p.id) && (q.sort === 'name' || CURSOR_TIME.test(p.k)),
  );
  const order = ORDER_OF[q.sort];
  const rows = await selectAssetPage(db, readableBy(db, actor), q, order, cursor);
  return pageOf(
    rows,
    q.limit,
    (row) => toAssetJson(row, actor),
    (row) => ({
      s: q.sort,
      // The exact stored key: a key cut to the millisecond would repeat or skip rows at the page edge.
      k: order.column === 'name' ? row.name : row.cursor_created_at,
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

/**
 * The live asset's row, locked in `trx`: `ifMatch`, an ETag the client read, is compared under the
 * lock, so a change made since is not written over (StaleRevisionError, and nothing changes).
 */
export async function lockedAssetAt(trx: Knex.Transaction, id: string, ifMatch: string | undefined, opts: { includeDeleted?: boolean } = {}) {
  const current = opts.includeDeleted ? await lockAsset(trx, id) : await lockLiveAsset(trx, id);
  if (!current) throw new NotFoundError(`asset ${id} not found`);
  ensureIfMatch(ifMatch, assetEtag(current), (etag) => `asset ${id} has changed: its ETag is ${etag}`);
  return current;
}

/**
 * What runs `then` under the asset's row lock (deleted or not), once `ifMatch` holds there: a change
 * that starts elsewhere (a permanent deletion's run, whose first step takes the same lock) is started
 * while the asset is still at the ETag the client read, and nothing can change it in between. Without
 * `ifMatch`, `then` runs as it is.
 */
export function underAssetAt(db: Knex, id: string, ifMatch: string | undefined): <T>(then: () => Promise<T>) => Promise<T> {
  return (then) => {
    if (ifMatch === undefined) return then();
    return db.transaction(async (trx) => {
      await lockedAssetAt(trx, id, ifMatch, { includeDeleted: true });
      return then();
    });
  };
}

/** Writes the fields `patch` gives over the locked asset's, its revision moved, with its event and audit row. */
async function writeAssetChange(trx: Knex.Transaction, id: string, revision: number, patch: AssetPatch, audit: AuditTrail): Promise<AssetRow> {
  const fields: Record<string, unknown> = { revision: revision + 1 };
  if (patch.name !== undefined) fields.name = patch.name;
  if (patch.content_type !== undefined) fields.content_type = patch.content_type;
  if (patch.tags !== undefined) fields.tags = patch.tags;
  await updateAssetRow(trx, id, fields);
  if (patch.metadata !== undefined) await replaceMetadata(trx, id, patch.metadata);
  await recordEvent(trx, 'storage.asset.updated', id, { asset_id: id, changed: Object.keys(patch) });
  await audit.record(trx);
  return getAsset(trx, id);
}

/** PUT /assets/{id}: the given fields replace the asset's; `ifMatch` is an ETag the client read. */
export async function updateAsset(db: Knex, id: string, patch: AssetPatch, ifMatch: string | undefined, audit: AuditTrail): Promise<AssetRow> {
  return db.transaction(async (trx) => {
    const current = await lockedAssetAt(trx, id, ifMatch);
    return writeAssetChange(trx, id, current.revision, patch, audit);
  });
}

/** A merge patch of an asset (RFC 7396): in `metadata` a null removes its key; a null `metadata` or `tags` empties it. */
export interface AssetMergePatch {
  name?: string;
  content_type?: string;
  metadata?: Record<string, string | null> | null;
  tags?: string[] | null;
}

/** The most metadata keys an asset holds (api/schemas/common.ts metadataObject). */
export const MAX_METADATA_KEYS = 64;

/** PATCH /assets/{id}: `patch` merged into the asset as it is under its lock; `ifMatch` as updateAsset compares it. */
export async function patchAsset(db: Knex, id: string, patch: AssetMergePatch, ifMatch: string | undefined, audit: AuditTrail): Promise<AssetRow> {
  return db.transaction(async (trx) => {
    const current = await lockedAssetAt(trx, id, ifMatch);
    const change: AssetPatch = {};
    if (patch.name !== undefined) change.name = patch.name;
    if (patch.content_type !== undefined) change.content_type = patch.content_type;
    if (patch.tags !== undefined) change.tags = patch.tags ?? [];
    if (patch.metadata === null) change.metadata = {};
    else if (patch.metadata !== undefined) change.metadata = mergedMetadata((await getAsset(trx, id)).metadata, patch.metadata);
    // An empty patch changes nothing (RFC 7396): its ETag stays, and no change is announced.
    if (Object.keys(change).length === 0) {
      await audit.record(trx);
      return getAsset(trx, id);
    }
    return writeAssetChange(trx, id, current.revision, change, audit);
  });
}

function mergedMetadata(current: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  const merged = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  if (Object.keys(merged).length > MAX_METADATA_KEYS) {
    throw new ValidationError(`the merged metadata would have more than ${MAX_METADATA_KEYS} keys`, [
      { path: 'metadata', message: `at most ${MAX_METADATA_KEYS} keys, with the asset's own` },
    ]);
  }
  return merged;
}

/** DELETE /assets/{id} (soft); `ifMatch` as updateAsset compares it. */
export async function softDeleteAsset(db: Knex, id: string, audit: AuditTrail, ifMatch?: string): Promise<void> {
  await db.transaction(async (trx) => {
    if (ifMatch !== undefined) await lockedAssetAt(trx, id, ifMatch);
    const updated = await softDeleteLiveAsset(trx, id);
    if (!updated) throw new NotFoundError(`asset ${id} not found`);
    await recordEvent(trx, 'storage.asset.deleted', id, { asset_id: id, permanent: false });
    await audit.record(trx);
  });
}

/** POST /assets/{id}/restore; `ifMatch` (the deleted asset's ETag, read with include_deleted) compared under its lock. */
export async function restoreAsset(db: Knex, id: string, audit: AuditTrail, ifMatch?: string): Promise<AssetRow> {
  return db.transaction(async (trx) => {
    const row = await lockedAssetAt(trx, id, ifMatch, { includeDeleted: true });
    if (!row.is_deleted) throw new ConflictError(`asset ${id} is not deleted`);
    // A permanent deletion under way goes on to delete its objects and rows: restored, the asset would vanish after all.
    if (row.purging_since) throw new ConflictError(`asset ${id} is being deleted for good: it cannot be restored`);
    await markAssetRestored(trx, id, row.revision + 1);
    await recordEvent(trx, 'storage.asset.updated', id, { asset_id: id, restored: true });
    await audit.record(trx);
    return getAsset(trx, id);
  });
}
