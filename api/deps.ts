import type { S3Client } from '@aws-sdk/client-s3';
import type { Redis } from 'ioredis';
import type { DeletionClient } from '../lib/assets/deletionRuns';
import { createAssetCache, type AssetCache } from '../lib/cache/assetCache';
import { createContentCache, type ContentCache } from '../lib/cache/contentCache';
import type { BackupClient } from '../lib/backups/backupRuns';
import type { LifecycleClient } from '../lib/lifecycle/sweepRuns';
import type { Config } from '../lib/platform/config';
import type { Db } from '../lib/platform/db';
import type { Logger } from '../lib/platform/logger';
import type { Metrics } from '../lib/platform/metrics';
import type { TemporalHandle, WorkflowAccess } from '../lib/platform/temporal';
import type { UploadClient } from '../lib/uploads/uploadRuns';

/** What the app is built from: the API process builds it once, tests build it with their own parts. */
export interface BaseDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  temporal: TemporalHandle;
  logger: Logger;
  /** Shares the rate-limit budgets between replicas, and holds the cache; without it budgets are per process and nothing is cached. */
  redis?: Redis;
}

/** The clients that start and ask the service's workflows, one of each for the whole app. */
export interface WorkflowClients {
  uploads: UploadClient;
  deletions: DeletionClient;
  lifecycle: LifecycleClient;
  backups: BackupClient;
}

/** The Redis caches (lib/cache/): asset reads go through `assetCache` always, with or without Redis. */
export interface Caches {
  assetCache: AssetCache;
  contentCache?: ContentCache;
}

/** What the routers are built from; each takes the few parts it uses. */
export type AppDeps = BaseDeps & WorkflowClients & Caches & { metrics: Metrics };

export function cachesOf(deps: Pick<BaseDeps, 'config' | 'db' | 'redis'>, metrics: Pick<Metrics, 'countCacheRequest'>): Caches {
  const { cache } = deps.config;
  const settings = { redis: deps.redis, enabled: cache.enabled, keyPrefix: cache.keyPrefix, ttlSeconds: cache.ttlSeconds };
  return {
    assetCache: createAssetCache({ ...settings, db: deps.db, count: (result) => metrics.countCacheRequest('asset', result) }),
    contentCache: createContentCache({ ...settings, maxObjectBytes: cache.maxObjectBytes, count: (result) => metrics.countCacheRequest('content', result) }),
  };
}

export function workflowClientsOf(deps: Pick<BaseDeps, 'config' | 'db' | 'temporal'>): WorkflowClients {
  const access: WorkflowAccess = { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
  return {
    uploads: access,
    deletions: access,
    lifecycle: access,
    backups: { ...access, retentionDays: deps.config.backups.retentionDays },
  };
}
