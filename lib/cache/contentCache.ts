/**
 * The content cache (issue 17): the bytes of small versions (<= STORAGE_CACHE_MAX_OBJECT_BYTES), keyed
 * by their SHA-256. Bytes under a hash never change, so nothing invalidates them; each entry has the
 * cache's TTL, which is what lets Redis's volatile-lru policy evict it when memory is full. Redis
 * down: every read goes to S3 and nothing is kept.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { CacheResult } from './assetCache';

export interface ContentCache {
  /** The whole object's bytes, or undefined (too large to be cached, not cached, or Redis unusable). */
  get(sha256: string, sizeBytes: number): Promise<Buffer | undefined>;
  /** Collects a whole object as it streams from S3, and keeps it once it ended intact; undefined when it may not be cached. */
  keeper(sha256: string, sizeBytes: number): ContentKeeper | undefined;
}

export interface ContentKeeper {
  add(chunk: Buffer): void;
  /** The stream ended: kept if the bytes are exactly the object's. */
  end(): void;
}

export interface ContentCacheOptions {
  redis?: Redis;
  enabled: boolean;
  keyPrefix: string;
  maxObjectBytes: number;
  ttlSeconds: number;
  count?: (result: CacheResult) => void;
}

export function createContentCache(opts: ContentCacheOptions): ContentCache | undefined {
  const { redis } = opts;
  if (!redis || !opts.enabled || opts.maxObjectBytes === 0) return undefined;
  const count = opts.count ?? (() => {});
  const keyOf = (sha256: string) => `${opts.keyPrefix}:cache:content:${sha256}`;
  const cacheable = (sizeBytes: number) => sizeBytes > 0 && sizeBytes <= opts.maxObjectBytes;

  return {
    async get(sha256, sizeBytes) {
      if (!cacheable(sizeBytes)) return undefined;
      if (redis.status !== 'ready') {
        count('bypass');
        return undefined;
      }
      try {
        const bytes = await redis.getBuffer(keyOf(sha256));
        if (bytes && bytes.length === sizeBytes) {
          count('hit');
          return bytes;
        }
        count('miss');
      } catch {
        count('bypass');
      }
      return undefined;
    },

    keeper(sha256, sizeBytes) {
      if (!cacheable(sizeBytes) || redis.status !== 'ready') return undefined;
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      let total = 0;
      return {
        add(chunk) {
          total += chunk.length;
          if (total > sizeBytes) return;
          chunks.push(chunk);
          hash.update(chunk);
        },
        end() {
          // Bytes that are not exactly the version's would be served to every asset with this hash.
          if (total !== sizeBytes || hash.digest('hex') !== sha256) return;
          redis.set(keyOf(sha256), Buffer.concat(chunks, total), 'EX', opts.ttlSeconds).catch(() => {});
        },
      };
    },
  };
}
