/**
 * A method that a known path does not serve: 405 with `Allow`, read from the route table (ROUTES,
 * which test/openapi.test.ts keeps equal to what the app serves); OPTIONS answers 204 with the same
 * `Allow`. Paths the table does not know go on to the 404.
 *
 * It runs before the routers: `PUT /api/v2/assets/upload` would otherwise reach the route of
 * `/api/v2/assets/:id` (and be refused as a bad body), though no asset has the id "upload".
 */
import type { RequestHandler } from 'express';
import { ROUTES } from '../openapi';
import type { RouteDoc } from '../http/route';
import { sendProblem } from '../http/problem';
import { patternOf } from '../http/route';

interface KnownPath {
  pattern: RegExp;
  params: number;
  methods: Set<string>;
  allow: string;
}

function knownPaths(routes: RouteDoc[]): KnownPath[] {
  const methods = new Map<string, Set<string>>();
  for (const route of routes) {
    const served = methods.get(route.path) ?? new Set<string>();
    served.add(route.method.toUpperCase());
    // Express answers HEAD wherever it serves GET.
    if (route.method === 'get') served.add('HEAD');
    methods.set(route.path, served);
  }
  return (
    [...methods]
      .map(([path, served]) => ({ pattern: patternOf(path), params: path.split(':').length - 1, methods: served, allow: [...served, 'OPTIONS'].join(', ') }))
      // Fewest parameters first: a literal path is matched before a parameter that would take its segment.
      .sort((a, b) => a.params - b.params)
  );
}

export function methodNotAllowed(routes: RouteDoc[] = ROUTES): RequestHandler {
  const known = knownPaths(routes);
  return (req, res, next) => {
    const match = known.find((k) => k.pattern.test(req.path));
    if (!match || match.methods.has(req.method)) {
      next();
      return;
    }
    res.setHeader('Allow', match.allow);
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    sendProblem(res, 405, 'Method Not Allowed', `${req.method} is not served at ${req.path}; it serves ${match.allow}`);
  };
}
