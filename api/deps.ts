import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../lib/platform/config';
import type { Db } from '../lib/platform/db';
import type { Logger } from '../lib/platform/logger';
import type { Metrics } from '../lib/platform/metrics';
import type { TemporalHandle } from '../lib/platform/temporal';

/** What the routers are built from: the app builds it once, tests build it with their own parts. */
export interface AppDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  temporal: TemporalHandle;
  logger: Logger;
  metrics: Metrics;
}
