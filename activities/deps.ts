import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../lib/config';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';

/** What every activity is built from: injected, so tests build activities with real or local parts. */
export interface ActivityDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  logger: Logger;
}
