import type { S3Client } from '@aws-sdk/client-s3';
import express, { type Express } from 'express';
import type { Config } from '../lib/config';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { TemporalHandle } from '../lib/temporal';
import { assetsRouter } from './assets';
import { healthRouter } from './health';
import { problemHandler, unknownRoute } from './problem';
import { requestContext } from './requestContext';
import { uploadsRouter } from './uploads';
import { versionsRouter } from './versions';

export interface AppDeps {
  config: Config;
  db: Db;
  s3: S3Client;
  temporal: TemporalHandle;
  logger: Logger;
}

/** Builds the HTTP app from its dependencies; tests build it with their own. */
export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');

  app.use(requestContext(deps.logger));

  app.use(
    healthRouter({
      db: deps.db,
      s3: deps.s3,
      bucket: deps.config.s3.bucket,
      temporal: deps.temporal.probe,
      timeoutMs: deps.config.healthTimeoutMs,
    }),
  );

  app.use(assetsRouter(deps));
  app.use(versionsRouter(deps));
  app.use(uploadsRouter(deps));

  app.use(unknownRoute);
  app.use(problemHandler(deps.logger));
  return app;
}
