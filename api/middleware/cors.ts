/**
 * CORS for the origins STORAGE_CORS_ORIGINS lists; with none listed, no CORS header at all. Callers
 * send bearer tokens, never cookies, so credentials are not allowed.
 *
 * It runs before the access layer and before api/middleware/methodNotAllowed.ts: a browser sends its preflight
 * without the Authorization header it asks about, and expects the CORS answer, not a bare Allow.
 */
import type { RequestHandler } from 'express';
import type { RouteDeclaration } from '../http/route';
import { TUS_REQUEST_HEADERS, TUS_RESPONSE_HEADERS } from '../schemas/tus';

const ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Range',
  'If-Match',
  'If-None-Match',
  'If-Modified-Since',
  'If-Unmodified-Since',
  'If-Range',
  'X-Checksum-SHA256',
  'X-Request-Id',
  'Idempotency-Key',
  'Prefer',
  ...TUS_REQUEST_HEADERS,
];

// What a script may read of an answer, beyond the few headers every browser shows.
const EXPOSED_HEADERS = [
  'ETag',
  'Location',
  'Content-Range',
  'Content-Disposition',
  'Content-Length',
  'Accept-Ranges',
  'X-Request-Id',
  'Retry-After',
  'RateLimit',
  'RateLimit-Policy',
  'Idempotent-Replayed',
  'Preference-Applied',
  ...TUS_RESPONSE_HEADERS,
];

// Two hours: the most Chromium keeps a preflight, whatever a server asks.
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/** Every method the routes serve, with the HEAD that Express answers wherever it serves GET. */
function methodsOf(routes: RouteDeclaration[]): string {
  const methods = new Set(routes.map((route) => route.method.toUpperCase()));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].join(', ');
}

/** `routes`: those called by a method of their own (api/routes/index.ts, ROUTES). */
export function cors(settings: { origins: string[] }, routes: RouteDeclaration[]): RequestHandler {
  if (settings.origins.length === 0) return (_req, _res, next) => next();
  const allowed = new Set(settings.origins);
  const methods = methodsOf(routes);
  return (req, res, next) => {
    // Whatever the origin: a cache must not give one origin's answer to another.
    res.vary('Origin');
    const origin = req.get('Origin');
    if (!origin || !allowed.has(origin)) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('Access-Control-Request-Method')) {
      res.setHeader('Access-Control-Allow-Methods', methods);
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS.join(', '));
      res.setHeader('Access-Control-Max-Age', String(PREFLIGHT_MAX_AGE_SECONDS));
      res.status(204).end();
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
    next();
  };
}
