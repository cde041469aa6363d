import express, { type Express } from 'express';
import { createMetrics } from '../lib/platform/metrics';
import { accessRules } from './access';
import { auditRouter } from './audit';
import { auditTrail } from './auditTrail';
import { workflowClientsOf, type AppDeps, type BaseDeps } from './deps';
import { assetsRouter } from './assets';
import { backupsRouter } from './backups';
import { cors } from './cors';
import { eventsRouter } from './events';
import { healthRouter } from './health';
import { lifecycleRouter } from './lifecycle';
import { methodNotAllowed } from './methodNotAllowed';
import { documentLimitsOf } from './openapi';
import { metricsRouter } from './metrics';
import { policiesRouter } from './policies';
import { problemHandler, unknownRoute } from './problem';
import { referenceRouter } from './reference';
import { requestContext } from './requestContext';
import { signedUrlsRouter } from './signedUrls';
import { uploadsRouter } from './uploads';
import { versionsRouter } from './versions';

/** Builds the HTTP app from its dependencies; tests build it with their own. */
export function buildApp(base: BaseDeps): Express {
  const deps: AppDeps = { ...base, ...workflowClientsOf(base), metrics: createMetrics(base.db) };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');

  app.use(requestContext(deps.logger, deps.metrics));
  app.use(cors(deps.config.cors));
  app.use(methodNotAllowed());
  app.use(auditTrail(deps));
  app.use(accessRules(deps.config));
  app.use(metricsRouter(deps.metrics));
  app.use(referenceRouter(documentLimitsOf(deps.config)));

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
  app.use(signedUrlsRouter(deps));
  app.use(uploadsRouter(deps));
  app.use(policiesRouter(deps));
  app.use(lifecycleRouter(deps));
  app.use(backupsRouter(deps));
  app.use(eventsRouter(deps));
  app.use(auditRouter(deps));

  app.use(unknownRoute);
  app.use(problemHandler(deps.logger, { drainLimitBytes: deps.config.uploads.maxSizeBytes }));
  return app;
}
