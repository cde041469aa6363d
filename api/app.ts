/**
 * The HTTP app. api/ holds, by what a file is:
 * - routes/<resource>.ts: each route declared once beside its handler (`defineRoute`, api/http/route.ts);
 *   routes/index.ts lists them all, and the router, the OpenAPI document, the access rules, 405s, CORS
 *   and the audit trail are all built from that one list;
 * - middleware/: what every request passes through (request context, CORS, tus headers, rate limits,
 *   405s, audit trail, authentication and route access, quota refusal counts), and each change's
 *   Idempotency-Key (idempotency.ts, between a route's body parser and its handler);
 * - http/: HTTP itself (route declarations, problem answers, JSON bodies, forms, content downloads and redirects);
 * - access/: the caller's asset (assetLookup) and upload session (sessionAccess), once they may use it;
 * - uploads/: receiving bytes (simple uploads' forms, chunked parts, tus PATCHes);
 * - schemas/: the zod schemas of requests and answers; openapi.ts builds the document from the routes.
 */
import express, { type Express } from 'express';
import { createRateLimiter } from '../lib/limits/rateLimiter';
import { catalogCollectorsOf } from '../lib/metrics/catalogCollectors';
import { createMetrics } from '../lib/platform/metrics';
import { cachesOf, workflowClientsOf, type AppDeps, type BaseDeps } from './deps';
import { preconditions } from './http/preconditions';
import { problemHandler, unknownRoute } from './http/problem';
import { routerOf } from './http/route';
import { auditTrail } from './middleware/auditTrail';
import { authenticate } from './middleware/authentication';
import { cors } from './middleware/cors';
import { methodNotAllowed } from './middleware/methodNotAllowed';
import { idempotency } from './middleware/idempotency';
import { countQuotaRefusals } from './middleware/quotaRefusals';
import { rateLimits } from './middleware/rateLimits';
import { requestContext } from './middleware/requestContext';
import { routeAccess } from './middleware/routeAccess';
import { tusProtocol } from './middleware/tusProtocol';
import { buildOpenApiDocument, documentLimitsOf } from './openapi';
import type { Drain } from './http/drain';
import { OPERATIONS, ROUTES } from './routes';
import { consoleAssets } from './routes/console';
import { docsAssets } from './routes/reference';

/** The HTTP app, and what its process waits for once it stops answering (api/server.ts). */
export type App = Express & {
  /** Resolves once what the answered requests left to write (their audit rows) is written. */
  settle(): Promise<void>;
};

/** Builds the HTTP app from its dependencies; tests build it with their own. */
export function buildApp(base: BaseDeps, drain?: Drain): App {
  const metrics = createMetrics(catalogCollectorsOf(base.db));
  const deps: AppDeps = { ...base, ...workflowClientsOf(base), ...cachesOf(base, metrics), metrics };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'extended');

  app.use(requestContext(deps.logger, deps.metrics));
  app.use(cors(deps.config.cors, ROUTES));
  app.use(tusProtocol(deps.config));
  app.use(rateLimits(deps.config.rateLimits, createRateLimiter(deps.config.rateLimits, deps.redis), authenticate(deps.config.auth)));
  app.use(methodNotAllowed(OPERATIONS));
  const audit = auditTrail(deps, OPERATIONS);
  app.use(audit);
  app.use(routeAccess(deps.config, OPERATIONS));
  app.use(...docsAssets());
  app.use(consoleAssets(deps.config));
  const routeDeps = { ...deps, drain, document: buildOpenApiDocument(documentLimitsOf(deps.config), OPERATIONS) };
  app.use(routerOf(OPERATIONS, routeDeps, (route) => [preconditions(deps.config, route), idempotency(deps, route)]));

  app.use(unknownRoute);
  app.use(countQuotaRefusals(deps.metrics));
  app.use(problemHandler(deps.logger, { drainLimitBytes: deps.config.uploads.maxSizeBytes }));
  return Object.assign(app, { settle: audit.settle });
}
