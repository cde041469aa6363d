/**
 * The asset metadata cache (issue 17): one entry per asset, the row as the access checks and
 * GET /assets/{id} read it with its current version's content facts, so that a cached content GET
 * asks nothing of PostgreSQL. Lists are not cached.
 *
 * It never answers stale after a write has answered 2xx, from any replica, because:
 * - every writer of assets, asset_versions, asset_metadata and asset_grants calls `invalidate` after
 *   its transaction commits and before the API answers (the API's routes, and the worker's activities
 *   through their own client); it deletes the entry and its lease;
 * - a miss takes a lease (a random token, unless another reader holds one) before it reads
 *   PostgreSQL, and stores what it read only if the lease still holds that token: a reader that read
 *   the row before a write committed finds its lease deleted by the write's invalidation and stores
 *   nothing;
 * - an entry is valid only under the epoch it was stored in, a random token in one key read with it
 *   (one round trip). A process that lost Redis, or whose invalidation failed, stops using the cache
 *   and, once Redis answers again, first sets a new epoch: whatever was stored before no longer
 *   matches. Tokens are random, so an epoch key lost to eviction cannot bring old entries back: an
 *   absent epoch bypasses the cache until a process sets a new one.
 *
 * The window left: a partition in which only a writer has lost Redis. Its invalidation fails, it
 * answers the write (Redis down must not fail writes), and a replica that still reaches Redis may
 * serve the entry from before the write until the writer reaches Redis again and sets a new epoch,
 * or at the latest until the entry's TTL (STORAGE_CACHE_TTL_SECONDS), the backstop.
 *
 * The writers: api/assets.ts (update, soft delete, restore, grants, permanent delete, uploads),
 * api/versions.ts (new versions, version restore), api/uploads.ts and api/tus.ts (upload results),
 * activities/uploads/uploads.ts (commit, prune), activities/assets.ts (permanent deletion),
 * activities/lifecycle.ts (expired assets and versions), activities/backups/restore.ts (restores).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { AssetRow } from '../assets/assets';
import { findAssetWithCurrentVersion } from '../assets/store';
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
  /** After a committed change of these assets: their entries go, in every replica's view. */
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

/** Longer than any miss's PostgreSQL read takes; a lease left by a reader that died expires by then. */
const LEASE_MS = 5_000;
/** How often a process whose invalidation failed tries to set a new epoch while Redis seems up. */
const RETRY_EPOCH_MS = 1_000;

// KEYS: lease, entry, epoch. ARGV: token, epoch, value, ttl in ms.
const STORE_IF_LEASED = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[3]) == ARGV[2] then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`;

const newToken = () => randomBytes(12).toString('base64url');

/** The Redis keys of one cache. */
function keysOf(keyPrefix: string) {
  return {
    entry: (id: string) => `${keyPrefix}:cache:asset:${id}`,
    lease: (id: string) => `${keyPrefix}:cache:lease:${id}`,
    epoch: `${keyPrefix}:cache:epoch`,
  };
}

type CacheKeys = ReturnType<typeof keysOf>;

/**
 * Whether this process may trust the cache: its epoch set since its last failure. 'fresh' (at start)
 * keeps an epoch other replicas set (SET NX); 'broken' replaces it (SET).
 */
function epochGuard(redis: Redis, epochKey: string) {
  let state: 'ready' | 'fresh' | 'broken' = 'fresh';
  // Moves on every failure, so an epoch set while a newer failure happened does not count.
  let generation = 0;
  let establishing: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;

  const establish = () =>
    (establishing ??= (async () => {
      const gen = generation;
      const replace = state === 'broken';
      try {
        await (replace ? redis.set(epochKey, newToken()) : redis.set(epochKey, newToken(), 'NX'));
        if (gen === generation) state = 'ready';
      } catch {
        broken();
      } finally {
        establishing = undefined;
      }
    })());

  function broken(): void {
    generation++;
    state = 'broken';
    retry ??= setInterval(() => {
      if (state === 'ready') {
        clearInterval(retry);
        retry = undefined;
      } else if (redis.status === 'ready') void establish();
    }, RETRY_EPOCH_MS).unref();
  }
  // Any lost connection may have lost an invalidation in flight, or the whole store with its epoch.
  redis.on('close', broken);
  redis.on('ready', () => void establish());

  async function usable(): Promise<boolean> {
    if (redis.status !== 'ready') return false;
    if (state !== 'ready') await establish();
    return state === 'ready';
  }
  return { usable, broken };
}

type EpochGuard = ReturnType<typeof epochGuard>;

interface CacheParts {
  db: Knex;
  redis: Redis;
  keys: CacheKeys;
  guard: EpochGuard;
  count: (result: CacheResult) => void;
  ttlMs: number;
}

async function readThrough(parts: CacheParts, id: string): Promise<CachedAsset | undefined> {
  const { db, redis, keys, count } = parts;
  if (!(await parts.guard.usable())) {
    count('bypass');
    return loadAsset(db, id);
  }
  let leased: { token: string; epoch: string } | undefined;
  try {
    const [raw, epoch] = await redis.mget(keys.entry(id), keys.epoch);
    const entry = raw && epoch ? parseEntry(raw) : undefined;
    if (entry && entry.epoch === epoch) {
      count('hit');
      return { row: entry.row, content: entry.content };
    }
    if (!epoch) {
      // Evicted or flushed: a new random epoch, which no entry stored before can match.
      void redis.set(keys.epoch, newToken(), 'NX').catch(() => {});
      count('bypass');
      return loadAsset(db, id);
    }
    // NX: under a burst of misses of one asset the first reader fills the entry; the others only
    // read (each taking the lease from the one before would leave no reader able to store).
    const token = newToken();
    if (await redis.set(keys.lease(id), token, 'PX', LEASE_MS, 'NX')) leased = { token, epoch };
  } catch {
    // A failed read loses no invalidation: this request goes around, a lost connection marks it broken.
    count('bypass');
    return loadAsset(db, id);
  }
  count('miss');
  const found = await loadAsset(db, id);
  if (found && leased) {
    const value = JSON.stringify({ epoch: leased.epoch, row: found.row, content: found.content });
    redis.eval(STORE_IF_LEASED, 3, keys.lease(id), keys.entry(id), keys.epoch, leased.token, leased.epoch, value, String(parts.ttlMs)).catch(() => {});
  }
  return found;
}

async function invalidateEntries(parts: CacheParts, ids: string[]): Promise<void> {
  const { redis, keys } = parts;
  if (ids.length === 0) return;
  try {
    if (redis.status !== 'ready') throw new Error(`Redis is ${redis.status}`);
    await redis.del(...ids.flatMap((id) => [keys.entry(id), keys.lease(id)]));
  } catch {
    parts.guard.broken();
  }
}

export function createAssetCache(opts: AssetCacheOptions): AssetCache {
  const { db, redis } = opts;
  if (!redis) return { read: (id) => loadAsset(db, id), invalidate: async () => {} };
  const keys = keysOf(opts.keyPrefix);
  const parts: CacheParts = { db, redis, keys, guard: epochGuard(redis, keys.epoch), count: opts.count ?? (() => {}), ttlMs: opts.ttlSeconds * 1000 };
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

function parseEntry(raw: string): (CachedAsset & { epoch: string }) | undefined {
  try {
    const entry = JSON.parse(raw) as CachedAsset & { epoch: string };
    const { row, content } = entry;
    row.created_at = new Date(row.created_at);
    row.updated_at = new Date(row.updated_at);
    if (row.deleted_at) row.deleted_at = new Date(row.deleted_at);
    if (content) content.created_at = new Date(content.created_at);
    return entry;
  } catch {
    return undefined;
  }
}
