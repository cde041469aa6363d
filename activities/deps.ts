import type { S3Client } from '@aws-sdk/client-s3';
import type { AssetCache } from '../lib/cache/assetCache';
import type { Config } from '../lib/platform/config';
import type { Db } from '../lib/platform/db';
import type { Logger } from '../lib/platform/logger';

/** What every activity is built from: injected, so tests build activities with real or local parts. */
export interface ActivityDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  logger: Logger;
  /** With Redis: what changes an asset makes the API replicas' cache forget it (lib/cache/assetCache.ts). */
  assetCache?: Pick<AssetCache, 'invalidate'>;
}
