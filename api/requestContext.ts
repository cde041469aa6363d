import type { Request, RequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../lib/platform/logger';
import type { Metrics } from '../lib/platform/metrics';

const CLIENT_ID = /^[\w.:-]{1,128}$/;
// A parameter name of another shape could itself be a value (`?<token>`): it is not written either.
const PARAMETER_NAME = /^[\w.[\]-]{1,64}$/;

/**
 * A request's URL as it may be logged: the query string as its parameter names alone
 * (`?sig=…&expires=…` is `?sig&expires`), since a value may be a secret, a signed URL's signature first.
 */
export function loggedUrl(req: Request): string {
  const url = req.originalUrl;
  const at = url.indexOf('?');
  if (at < 0) return url;
  const names = url
    .slice(at + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => pair.split('=')[0])
    .map((name) => (PARAMETER_NAME.test(name) ? name : '_'));
  return `${url.slice(0, at)}?${names.join('&')}`;
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
