/**
 * If-Match and If-None-Match on the routes that change something (RFC 9110 13.1), as each route
 * declares them (`preconditions`, api/http/route.ts). What can be refused before the handler is
 * refused here: an If-Match on a create (no new resource matches one: 412), a change of an existing
 * resource without one under STORAGE_REQUIRE_IF_MATCH (428). The comparison of an If-Match with a
 * resource's ETag is the domain's, in the transaction that makes the change (lib/assets/assets.ts
 * etagMatches), so nothing can change between the check and the change.
 */
import type { Request, RequestHandler, Response } from 'express';
import { PreconditionRequiredError, StaleRevisionError } from '../../lib/platform/errors';
import { etagMatches } from '../../lib/platform/etags';
import type { HeaderDoc, Preconditions, RouteDeclaration } from './route';

/** The request's If-Match, or undefined without one. */
export function ifMatchOf(req: Request): string | undefined {
  return req.get('If-Match');
}

/** The kind of a route's preconditions: what it does with If-Match. */
export function preconditionKindOf(route: Pick<RouteDeclaration, 'preconditions'>): Exclude<Preconditions, object> | 'none' {
  const declared: Preconditions | undefined = route.preconditions;
  if (declared === undefined || typeof declared === 'object') return 'none';
  return declared;
}

/** A create: an If-Match, whatever it names, cannot match a resource that does not exist yet. */
export function refuseIfMatchOnCreate(req: Request, what: string): void {
  if (ifMatchOf(req) !== undefined) {
    throw new StaleRevisionError(`${what} creates a new resource: If-Match cannot hold for one that does not exist (send If-None-Match: * instead)`);
  }
}

/** A change of an existing resource: its If-Match, required (428) when `required`. */
export function ifMatchFor(req: Request, required: boolean): string | undefined {
  const given = ifMatchOf(req);
  if (given === undefined && required) {
    throw new PreconditionRequiredError(
      'this server requires If-Match on a change of an existing resource (STORAGE_REQUIRE_IF_MATCH): read the resource, then send its ETag',
    );
  }
  return given;
}

/**
 * A resource's JSON answer with its ETag. A GET (or HEAD) whose If-None-Match names that ETag (weak
 * comparison) is 304 without a body (RFC 9110 13.1.2), whatever its Cache-Control says: that is for
 * caches, and a browser's fetch sends `no-cache` with every conditional request.
 */
export function sendTagged(req: Request, res: Response, etag: string, body: unknown, status = 200): void {
  res.status(status).setHeader('ETag', etag);
  const ifNoneMatch = req.get('If-None-Match');
  if (status === 200 && (req.method === 'GET' || req.method === 'HEAD') && ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) {
    res.status(304).end();
    return;
  }
  res.json(body);
}

/** The guard of one route: undefined for a route that takes no precondition or decides itself (`create-or-existing`). */
export function preconditions(settings: { requireIfMatch: boolean }, route: RouteDeclaration): RequestHandler | undefined {
  const kind = preconditionKindOf(route);
  if (kind === 'create') {
    return (req, _res, next) => {
      refuseIfMatchOnCreate(req, `${route.method.toUpperCase()} ${route.path}`);
      next();
    };
  }
  if (kind === 'existing' && settings.requireIfMatch) {
    return (req, _res, next) => {
      ifMatchFor(req, true);
      next();
    };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// What the OpenAPI document says of them (api/openapi.ts).

const ENTITY_TAGS = { type: 'string', examples: ['"r3"', '*'] };

/** The request headers a route with these preconditions takes. */
export function preconditionHeaders(route: RouteDeclaration, settings: { requireIfMatch: boolean }): Record<string, HeaderDoc> {
  switch (preconditionKindOf(route)) {
    case 'existing':
      return {
        'If-Match': {
          required: settings.requireIfMatch,
          description:
            'the ETag (or a list, or `*`) the resource was read with: the change is made only if the resource still has it, compared in the transaction that makes it; otherwise 412 and nothing changes. Required (428 without) when the server runs with STORAGE_REQUIRE_IF_MATCH',
          schema: ENTITY_TAGS,
        },
      };
    case 'unchanged':
      return {
        'If-Match': {
          description: 'the ETag (or a list, or `*`) the resource was read with: 412 when it has another now (nothing is changed either way; never required)',
          schema: ENTITY_TAGS,
        },
      };
    case 'create-or-existing':
      return {
        'If-Match': {
          description:
            "with `asset_id`: the asset's ETag, compared as the session opens (412 when stale; required, 428 without, under STORAGE_REQUIRE_IF_MATCH); without: any value is 412, a new asset matching none",
          schema: ENTITY_TAGS,
        },
        'If-None-Match': {
          description: '`*` (only a new resource) or entity tags: what this creates is new, so it has none of them, and the create goes on',
          schema: ENTITY_TAGS,
        },
      };
    case 'create':
      return {
        'If-Match': { description: 'any value is 412: the resource this creates does not exist yet, so it matches none', schema: ENTITY_TAGS },
        'If-None-Match': {
          description: '`*` (only a new resource) or entity tags: what this creates is new, so it has none of them, and the create goes on',
          schema: ENTITY_TAGS,
        },
      };
    case 'none':
      return {};
  }
}

/** The statuses a route's preconditions add: 412, and 428 under STORAGE_REQUIRE_IF_MATCH. */
export function preconditionStatuses(route: RouteDeclaration, settings: { requireIfMatch: boolean }): Record<number, string> {
  const kind = preconditionKindOf(route);
  if (kind === 'none') return {};
  const statuses: Record<number, string> = {
    412: kind === 'create' ? 'If-Match was sent: nothing is created' : 'If-Match is stale: nothing was done; read the resource again',
  };
  if ((kind === 'existing' || kind === 'create-or-existing') && settings.requireIfMatch)
    statuses[428] = 'If-Match is missing (STORAGE_REQUIRE_IF_MATCH): nothing changed';
  return statuses;
}

/** The document's `x-preconditions` of an operation: its kind, and why a route that changes something takes none. */
export function preconditionExtension(route: RouteDeclaration): { kind: string; reason?: string } | undefined {
  if (!['post', 'put', 'patch', 'delete'].includes(route.method)) return undefined;
  const declared = route.preconditions;
  if (typeof declared === 'object') return { kind: 'none', reason: declared.none };
  return { kind: declared ?? 'none' };
}

/** The headers of a GET of a resource that has an ETag: If-None-Match, answered 304 when it matches. */
export const IF_NONE_MATCH_HEADER: Record<string, HeaderDoc> = {
  'If-None-Match': { description: 'an ETag read before (or a list): 304 without a body while the resource still has it', schema: ENTITY_TAGS },
};
