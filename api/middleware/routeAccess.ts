/**
 * Each route's access rule, read from its declaration (api/routes/): a public route goes on as it is;
 * any other first authenticates its caller, then checks the role the rule asks for. A path no route
 * declares still needs a token, so that a 404 tells nothing to a caller without one.
 */
import type { RequestHandler } from 'express';
import { actsForAnyOwner, isAdmin, type Actor } from '../../lib/auth/actor';
import { ForbiddenError } from '../../lib/auth/errors';
import type { Config } from '../../lib/platform/config';
import { actorOf, authenticate } from './authentication';
import { accessOf, parameterCountOf, patternOf, type Access, type RouteDeclaration } from '../http/route';

const ALLOWS: Record<Access, (actor: Actor) => boolean> = {
  anyone: () => true,
  caller: () => true,
  service: actsForAnyOwner,
  admin: isAdmin,
};

export function routeAccess(config: Pick<Config, 'auth' | 'metricsAccess'>, routes: RouteDeclaration[]): RequestHandler {
  const authenticateCaller = authenticate(config.auth);
  const rules = routes
    .map((route) => ({
      method: route.method.toUpperCase(),
      pattern: patternOf(route.path),
      params: parameterCountOf(route.path),
      access: accessOf(route, config),
    }))
    // Fewest parameters first: a literal path is matched before a parameter that would take its segment.
    .sort((a, b) => a.params - b.params);
  return (req, res, next) => {
    // The rendered reference's and the console's own scripts and styles, and the console's in-browser
    // paths: as public as the pages that load them (the console signs in within the page).
    if (req.path.startsWith('/docs/') || req.path.startsWith('/console/')) return next();
    const ruleOf = (method: string) => rules.find((r) => r.method === method && r.pattern.test(req.path));
    // A HEAD follows its GET's rule, unless the route declares a HEAD of its own.
    const rule = ruleOf(req.method) ?? (req.method === 'HEAD' ? ruleOf('GET') : undefined);
    if (rule?.access === 'anyone') {
      next();
      return;
    }
    authenticateCaller(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (rule && !ALLOWS[rule.access](actorOf(res))) {
        return next(new ForbiddenError(`${req.method} ${req.path} is for ${rule.access === 'admin' ? 'admins' : 'services and admins'}`));
      }
      next();
    });
  };
}
