/**
 * A method that a known path does not serve: 405 with `Allow`, read from the route declarations
 * (api/routes/); OPTIONS answers 204 with the same `Allow`, or goes on with it to a route that declares
 * its own OPTIONS (tus). Paths no route declares go on to the 404.
 *
 * It runs before the routers: `PUT /api/v2/assets/upload` would otherwise reach the route of
 * `/api/v2/assets/:id` (and be refused as a bad body), though no asset has the id "upload".
 */
import type { RequestHandler } from 'express';
import { sendProblem } from '../http/problem';
import { parameterCountOf, patternOf, type RouteDeclaration } from '../http/route';

interface KnownPath {
  pattern: RegExp;
  params: number;
  methods: Set<string>;
  allow: string;
}

function knownPaths(routes: RouteDeclaration[]): KnownPath[] {
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
      .map(([path, served]) => ({
        pattern: patternOf(path),
        params: parameterCountOf(path),
        methods: served,
        allow: [...[...served].filter((method) => method !== 'OPTIONS'), 'OPTIONS'].join(', '),
      }))
      // Fewest parameters first: a literal path is matched before a parameter that would take its segment.
      .sort((a, b) => a.params - b.params)
  );
}

export function methodNotAllowed(routes: RouteDeclaration[]): RequestHandler {
  const known = knownPaths(routes);
  return (req, res, next) => {
    const match = known.find((k) => k.pattern.test(req.path));
    if (!match) return next();
    if (req.method === 'OPTIONS' || !match.methods.has(req.method)) res.setHeader('Allow', match.allow);
    if (match.methods.has(req.method)) return next();
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    sendProblem(res, 405, 'Method Not Allowed', `${req.method} is not served at ${req.path}; it serves ${match.allow}`);
  };
}
