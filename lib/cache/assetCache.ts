/**
 * The asset metadata cache (issue 17): one entry per asset, the row as the access checks and
 * GET /assets/{id} read it with its current version's content facts, so that a hit spares
 * PostgreSQL the row's join with its metadata, grants and current version. Lists are not cached.
 *
 * An entry is served only when PostgreSQL confirms it, on every read (issue 26). It carries the
 * version of the asset's row it was filled from (the row's xmin: lib/assets/store.ts
 * assetRowVersion); a read asks PostgreSQL for the row's version now (a primary-key lookup, sent
 * with the Redis GET) and serves the entry only if the two are equal. Every commit that changes
 * what an entry holds writes that row in its own transaction: a new version, a rename, metadata
 * and grants (they move its revision), a soft deletion, a prune's version_count, a restore; a
 * permanent deletion removes it, and a row inserted again has a new version; the content facts
 * are those of the version the row names, which never change under its id. So once PostgreSQL
 * has acknowledged a commit, every read that begins after it (the service reads its primary only)
 * sees the new row version, which no entry filled before matches: a revoked grant or a deletion
 * is never served from the cache, and nothing has to happen after the commit for that. The writer
 * may die before its `invalidate`, lose Redis, or restart; Redis may be flushed, partitioned or
 * evicting: none of it can make an old entry pass.
 *
 * Why this and not the others: invalidation after the commit (what this cache did, with epochs
 * for lost invalidations) depends on the writer living on after its commit, and an epoch is only
 * replaced by a process that remembers its failure (a restarted one kept the old epoch); a
 * two-phase invalidation (a mark set before the commit, cleared after) needs the mark to outlive
 * a transaction whose length nothing bounds (lock waits), and a writer that cannot reach Redis
 * before its commit would have to fail the write; filling only after an epoch bump has the same
 * dependence on the writer. Confirming each hit costs one indexed read of one row, which is the
 * price of making PostgreSQL, not Redis, the judge of access.
 *
 * A miss reads the full row after reading its version (on one primary a statement sees a snapshot
 * at least as new as any statement before it), so an entry's content is never older than the
 * version it carries; a commit in between only leaves an entry that never matches. Fills may
 * therefore overwrite each other in any order, and need no lease. `invalidate`, which writers
 * still call after their commit, frees Redis of entries that can no longer match; the TTL
 * (STORAGE_CACHE_TTL_SECONDS) bounds memory, not staleness. Row versions are 32-bit transaction
 * ids: one comes back for the same row only after about 4 billion transactions, far beyond the TTL
 * a stale entry lives.
 *
 * The writers that call `invalidate`: api/routes/assets.ts (update, soft delete, restore, grants,
 * permanent delete, uploads), api/routes/versions.ts (new versions, version restore),
 * api/routes/uploads.ts and api/routes/tus.ts (upload results), activities/uploads/uploads.ts
 * (commit, prune), activities/assets.ts (permanent deletion), activities/lifecycle.ts (expired
 * assets and versions), activities/backups/restoreAsset.ts (restores).
 */
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AssetRow } from '../assets/assets';
import { assetRowVersion, findAssetWithCurrentVersion } from '../assets/store';
import type { VersionRow } from '../assets/versions';

/** What serving the current version's bytes needs (api/download.ts storedContentOf). */
export type ContentFacts = Pick<VersionRow, 'id' | 'object_key' | 'size_bytes' | 'checksum_sha256' | 'content_type' | 'created_at'>;

export interface CachedAsset {
  /** Soft-deleted rows too: the caller decides. */
  row: AssetRow;
  /** The current version's facts; null for an asset without one. */
  content: ContentFacts | null;
}

export type CacheResult = 'hit' | 'miss' | 'bypass';

export interface AssetCache {
  /** The asset (deleted or not) with its current content, from the cache when it can be trusted. */
  read(id: string): Promise<CachedAsset | undefined>;
  /** After a committed change of these assets: their entries go (memory only: an entry left never matches its row again). */
  invalidate(ids: string[]): Promise<void>;
}

export interface AssetCacheOptions {
  db: Knex;
  /** Without it: every read goes to PostgreSQL and invalidation does nothing. */
  redis?: Redis;
  /** false: this process reads PostgreSQL only, but its writes still invalidate (for replicas that read). */
  enabled: boolean;
  keyPrefix: string;
  ttlSeconds: number;
  count?: (result: CacheResult) => void;
}

interface CacheParts {
  db: Knex;
  redis: Redis;
  entryKey: (id: string) => string;
  count: (result: CacheResult) => void;
  ttlMs: number;
}

/** What Redis holds for an asset: its cached view and the row version it was read at. */
interface StoredEntry extends CachedAsset {
  rowVersion: string;
}

async function readThrough(parts: CacheParts, id: string): Promise<CachedAsset | undefined> {
  const { db, redis, count } = parts;
  if (redis.status !== 'ready') {
    count('bypass');
    return loadAsset(db, id);
  }
  const [raw, rowVersion] = await Promise.all([redis.get(parts.entryKey(id)).catch(() => undefined), assetRowVersion(db, id)]);
  // undefined: Redis failed (null: no entry). A failed read loses nothing: this request goes around.
  if (raw === undefined) {
    count('bypass');
    return loadAsset(db, id);
  }
  const entry = raw === null ? undefined : parseEntry(raw, id);
  if (entry && rowVersion !== undefined && entry.rowVersion === rowVersion) {
    count('hit');
    return { row: entry.row, content: entry.content };
  }
  count('miss');
  if (rowVersion === undefined) {
    // The row is gone: so is the asset, whatever an entry says.
    if (raw !== null) redis.del(parts.entryKey(id)).catch(() => {});
    return undefined;
  }
  // Read after the version: what is stored is never older than the version it carries.
  const found = await loadAsset(db, id);
  if (found) {
    const stored: StoredEntry = { rowVersion, row: found.row, content: found.content };
    redis.set(parts.entryKey(id), JSON.stringify(stored), 'PX', parts.ttlMs).catch(() => {});
  }
  return found;
}

async function invalidateEntries(parts: CacheParts, ids: string[]): Promise<void> {
  if (ids.length === 0 || parts.redis.status !== 'ready') return;
  // Only memory: an entry left behind never matches its row again.
  await parts.redis.del(...ids.map(parts.entryKey)).catch(() => {});
}

export function createAssetCache(opts: AssetCacheOptions): AssetCache {
  const { db, redis } = opts;
  if (!redis) return { read: (id) => loadAsset(db, id), invalidate: async () => {} };
  const parts: CacheParts = {
    db,
    redis,
    entryKey: (id) => `${opts.keyPrefix}:cache:asset:${id}`,
    count: opts.count ?? (() => {}),
    ttlMs: opts.ttlSeconds * 1000,
  };
  return {
    read: (id) => (opts.enabled ? readThrough(parts, id) : loadAsset(db, id)),
    invalidate: (ids) => invalidateEntries(parts, ids),
  };
}

/** The row with its current version's content facts, in one query. */
export async function loadAsset(db: Knex, id: string): Promise<CachedAsset | undefined> {
  const row = await findAssetWithCurrentVersion(db, id);
  if (!row) return undefined;
  const { cv_id, cv_object_key, cv_size_bytes, cv_checksum_sha256, cv_content_type, cv_created_at, ...asset } = row;
  const content = cv_id
    ? {
        id: cv_id,
        object_key: cv_object_key,
        size_bytes: cv_size_bytes,
        checksum_sha256: cv_checksum_sha256,
        content_type: cv_content_type,
        created_at: cv_created_at,
      }
    : null;
  return { row: asset as AssetRow, content };
}

/** The entry of asset `id`, or undefined when it is not one (another format, another asset). */
function parseEntry(raw: string, id: string): StoredEntry | undefined {
  try {
    const entry = JSON.parse(raw) as StoredEntry;
    const { row, content } = entry;
    if (typeof entry.rowVersion !== 'string' || row?.id !== id) return undefined;
    row.created_at = new Date(row.created_at);
    row.updated_at = new Date(row.updated_at);
    if (row.deleted_at) row.deleted_at = new Date(row.deleted_at);
    if (content) content.created_at = new Date(content.created_at);
    return entry;
  } catch {
    return undefined;
  }
}
