/**
 * A route, declared once beside its handler (`defineRoute`): what the Express router serves, what the
 * OpenAPI document says (api/openapi.ts), and what the access rules, 405s, CORS and the audit trail
 * read (api/middleware/) all come from the one list in api/routes/index.ts.
 */
import { Router, type RequestHandler } from 'express';
import type { z } from 'zod';
import type { AppDeps } from '../deps';
import type { Drain } from './drain';
import type { ProblemKindName } from './problemTypes';
import { jsonBodyOf } from './jsonBody';

export type Method = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete' | 'options';

/** What the document states from the configuration. */
export interface DocumentLimits {
  maxUploadBytes: number;
  ingestAllowedHosts: string[];
  metricsAccess: 'open' | 'admin';
  /** Every answer then carries the rate-limit headers, and any request may be a 429. */
  rateLimits: boolean;
  /** STORAGE_REQUIRE_IF_MATCH: a change of an existing resource then needs If-Match (428 without). */
  requireIfMatch: boolean;
}

/**
 * How a change takes If-Match and If-None-Match (RFC 9110 13.1; api/http/preconditions.ts):
 * - `existing`: it changes a resource that has an ETag; If-Match is compared with that ETag in the
 *   transaction that makes the change (412 when stale, and nothing changes); under
 *   STORAGE_REQUIRE_IF_MATCH it is required (428 without).
 * - `create`: it creates a new resource in a collection; If-Match, whatever its value, is 412 (no
 *   resource there to match), `If-None-Match: *` is accepted and the create goes on.
 * - `unchanged`: it changes nothing of the resource it names (a signed URL of an asset): If-Match is
 *   compared with the resource as read (412 when stale), and never required.
 * - `create-or-existing`: POST /uploads, a new asset's session (`create`) or, with `asset_id`, a new
 *   version's (`existing`, compared with that asset's ETag).
 * - `{ none: why }`: it takes neither (tus: its offsets are its preconditions).
 */
export type Preconditions = 'existing' | 'unchanged' | 'create' | 'create-or-existing' | { none: string };

/**
 * The operations an answer leads to: every route at `resource` or below it, each given the
 * parameters of its path that `parameters` holds (runtime expressions on the answer).
 */
export interface LinkDoc {
  resource: string;
  parameters: Record<string, string>;
}

/** A header of a request or an answer, as the document states it. */
export interface HeaderDoc {
  required?: boolean;
  description: string;
  schema: Record<string, unknown>;
  /** Kept for clients that send or read it; its description says what replaces it. */
  deprecated?: boolean;
}

export interface Answer {
  description: string;
  schema?: z.ZodType;
  /** Content type of the answer; JSON unless said. */
  content?: string;
  links?: LinkDoc[];
  /** Headers the answer carries, beside the rate-limit ones. */
  headers?: Record<string, HeaderDoc>;
  /** A problem answer's types (api/http/problemTypes.ts); every type of its status unless said. */
  problems?: ProblemKindName[];
}

/**
 * Who may call a route: anyone (no token), any verified caller (the handler then checks the asset's
 * owner and grants), a service or an admin, or an admin alone.
 */
export type Access = 'anyone' | 'caller' | 'service' | 'admin';

export interface RouteDeclaration {
  method: Method;
  /** `metrics` follows STORAGE_METRICS_ACCESS: open, or admin only. */
  access: Access | 'metrics';
  /** Express form: `/api/v2/assets/:id`; a literal colon after a parameter escaped, `/api/v2/operations/:id\:cancel` (AIP-136's custom method). */
  path: string;
  summary: string;
  /** More than the summary says, for the document. */
  description?: string;
  /** Kept for the clients that use it; the description says what replaces it. Its answers may carry Deprecation. A parameter is marked with `.meta({ deprecated: true })`. */
  deprecated?: boolean;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the route reads (tus carries its protocol in them). */
  headers?: Record<string, HeaderDoc>;
  /** A function of the limits where the document states a configured one. A JSON body is parsed (api/http/jsonBody.ts) before the handler. */
  body?: {
    schema: z.ZodType | ((limits: DocumentLimits) => z.ZodType);
    /** JSON unless said. */
    content?: string;
    encoding?: Record<string, { contentType: string }>;
    /** A request may come without one (an empty body is valid). */
    optional?: boolean;
  };
  responses: Record<number, Answer>;
  /** false: the route takes no Idempotency-Key, though it changes something (tus: its offsets make it safe to repeat). */
  idempotencyKey?: false;
  /** Every POST, PUT, PATCH and DELETE says how it takes If-Match / If-None-Match (test/preconditions.test.ts). */
  preconditions?: Preconditions;
}

/** What a handler is built from, once per app: the app's parts, its drain (for readiness) and its OpenAPI document. */
export type RouteDeps = AppDeps & { drain?: Drain; document: object };

export interface Route extends RouteDeclaration {
  handler: (deps: RouteDeps) => RequestHandler;
}

export function defineRoute(declaration: RouteDeclaration, handler: Route['handler']): Route {
  return { ...declaration, handler };
}

/** Whether the route's body is JSON, which jsonBody parses (and refuses as 415 in another type). */
export function takesJson(route: RouteDeclaration): boolean {
  return route.body !== undefined && (route.body.content ?? 'application/json').endsWith('json');
}

/**
 * The router of every route, each handler built once from the app's parts; `guardOf` gives what a
 * route's request passes through after its body is parsed and before its handler (its preconditions,
 * its Idempotency-Key).
 */
export function routerOf(routes: Route[], deps: RouteDeps, guardOf: (route: Route) => Array<RequestHandler | undefined> = () => []): Router {
  const router = Router();
  // A HEAD of its own goes first: Express answers HEAD with the first GET route of the path otherwise.
  const ordered = [...routes.filter((r) => r.method === 'head'), ...routes.filter((r) => r.method !== 'head')];
  for (const route of ordered) {
    const handle = route.handler(deps);
    const guards = guardOf(route).filter((guard) => guard !== undefined);
    router[route.method](route.path, ...(takesJson(route) ? [jsonBodyOf(route.body?.content)] : []), ...guards, handle);
  }
  return router;
}

const escaped = (literal: string) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Matched as Express matches routes: case-insensitive, a trailing slash allowed, a parameter one segment (and a literal `\:suffix` after it kept). */
export function patternOf(path: string): RegExp {
  const segments = path.split('/').map((segment) => {
    if (!segment.startsWith(':')) return escaped(segment);
    const suffix = segment.split('\\:').slice(1);
    return suffix.length ? `[^/]+${suffix.map((s) => `:${escaped(s)}`).join('')}` : '[^/]+';
  });
  return new RegExp(`^${segments.join('/')}/?$`, 'i');
}

/**
 * How many parameters a path takes: a literal path is matched before one whose parameter would take
 * its segment. A parameter with a literal suffix (`:id\:cancel`) counts as half, so it is matched
 * before the bare parameter (`:id`) that would take its segment too.
 */
export function parameterCountOf(path: string): number {
  return (path.match(/(?<!\\):\w+/g) ?? []).length - (path.match(/\\:/g) ?? []).length / 2;
}

/** The rule a route follows under this configuration. */
export function accessOf(route: Pick<RouteDeclaration, 'access'>, settings: Pick<DocumentLimits, 'metricsAccess'>): Access {
  if (route.access !== 'metrics') return route.access;
  return settings.metricsAccess === 'open' ? 'anyone' : 'admin';
}

/** HEAD and OPTIONS, which Express and api/middleware/methodNotAllowed.ts answer on every path; tus declares its own. */
export function isProtocolMethod(method: Method): boolean {
  return method === 'head' || method === 'options';
}
