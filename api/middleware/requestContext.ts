import type { Request, RequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/platform/logger';
import type { Metrics } from '../../lib/platform/metrics';
import { redactedPathAndQuery } from '../../lib/platform/redactedUrls';

const CLIENT_ID = /^[\w.:-]{1,128}$/;

/** A request's URL as it may be logged (lib/platform/redactedUrls.ts). */
export function loggedUrl(req: Request): string {
  return redactedPathAndQuery(req.originalUrl);
}

/**
 * Echoes the client's X-Request-Id (or makes one), logs each request once when it ends, and times it
 * by route template (never the raw path: label values stay bounded).
 */
export function requestContext(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const given = req.get('X-Request-Id');
    const requestId = given && CLIENT_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = performance.now();
    res.on('finish', () => {
      const seconds = (performance.now() - started) / 1000;
      const route = req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      metrics.httpDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      logger.info('request', {
        request_id: requestId,
        method: req.method,
        path: loggedUrl(req),
        status: res.statusCode,
        duration_ms: Math.round(seconds * 10_000) / 10,
      });
    });
    next();
  };
}
