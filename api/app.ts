import express, { type Express } from 'express';
import { createRateLimiter } from '../lib/limits/rateLimiter';
import { createMetrics } from '../lib/platform/metrics';
import { accessRules } from './middleware/routeAccess';
import { authenticate } from './middleware/authentication';
import { auditRouter } from './routes/audit';
import { auditTrail } from './middleware/auditTrail';
import { cachesOf, workflowClientsOf, type AppDeps, type BaseDeps } from './deps';
import { assetsRouter } from './routes/assets';
import { backupsRouter } from './routes/backups';
import { cors } from './middleware/cors';
import { eventsRouter } from './routes/events';
import { healthRouter, type Drain } from './routes/health';
import { lifecycleRouter } from './routes/lifecycle';
import { methodNotAllowed } from './middleware/methodNotAllowed';
import { documentLimitsOf } from './openapi';
import { metricsRouter } from './routes/metrics';
import { policiesRouter } from './routes/policies';
import { problemHandler, unknownRoute } from './http/problem';
import { rateLimits } from './middleware/rateLimits';
import { countQuotaRefusals, quotasRouter } from './routes/quotas';
import { referenceRouter } from './routes/reference';
import { requestContext } from './middleware/requestContext';
import { signedUrlsRouter } from './routes/signedUrls';
import { tusProtocol, tusRouter } from './routes/tus';
import { uploadsRouter } from './routes/uploads';
import { versionsRouter } from './routes/versions';

/** The HTTP app, and what its process waits for once it stops answering (api/server.ts). */
export type App = Express & {
  /** Resolves once what the answered requests left to write (their audit rows) is written. */
  settle(): Promise<void>;
};

/** Builds the HTTP app from its dependencies; tests build it with their own. */
export function buildApp(base: BaseDeps, drain?: Drain): App {
  const metrics = createMetrics(base.db);
  const deps: AppDeps = { ...base, ...workflowClientsOf(base), ...cachesOf(base, metrics), metrics };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');

  app.use(requestContext(deps.logger, deps.metrics));
  app.use(cors(deps.config.cors));
  app.use(tusProtocol(deps.config));
  app.use(rateLimits(deps.config.rateLimits, createRateLimiter(deps.config.rateLimits, deps.redis), authenticate(deps.config.auth)));
  app.use(methodNotAllowed());
  const audit = auditTrail(deps);
  app.use(audit);
  app.use(accessRules(deps.config));
  app.use(metricsRouter(deps.metrics));
  app.use(referenceRouter(documentLimitsOf(deps.config)));

  app.use(
    healthRouter(
      {
        db: deps.db,
        s3: deps.s3,
        bucket: deps.config.s3.bucket,
        temporal: deps.temporal.probe,
        redis: deps.redis,
        sse: deps.config.s3.sse,
        timeoutMs: deps.config.healthTimeoutMs,
      },
      drain,
    ),
  );

  app.use(assetsRouter(deps));
  app.use(versionsRouter(deps));
  app.use(signedUrlsRouter(deps));
  app.use(uploadsRouter(deps));
  app.use(tusRouter(deps));
  app.use(policiesRouter(deps));
  app.use(lifecycleRouter(deps));
  app.use(backupsRouter(deps));
  app.use(eventsRouter(deps));
  app.use(quotasRouter(deps));
  app.use(auditRouter(deps));

  app.use(unknownRoute);
  app.use(countQuotaRefusals(deps.metrics));
  app.use(problemHandler(deps.logger, { drainLimitBytes: deps.config.uploads.maxSizeBytes }));
  return Object.assign(app, { settle: audit.settle });
}
