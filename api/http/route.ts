/** How a route is documented: the types the route tables (api/openapi.ts, api/schemas/*) share. */
import type { z } from 'zod';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What the document states from the configuration. */
export interface DocumentLimits {
  maxUploadBytes: number;
  ingestAllowedHosts: string[];
  metricsAccess: 'open' | 'admin';
  /** Every answer then carries the rate-limit headers, and any request may be a 429. */
  rateLimits: boolean;
}

/**
 * The operations an answer leads to: every route at `resource` or below it, each given the
 * parameters of its path that `parameters` holds (runtime expressions on the answer).
 */
export interface LinkDoc {
  resource: string;
  parameters: Record<string, string>;
}

export interface Answer {
  description: string;
  schema?: z.ZodType;
  /** Content type of the answer; JSON unless said. */
  content?: string;
  links?: LinkDoc[];
  /** Headers the answer carries, beside the rate-limit ones. */
  headers?: Record<string, { required?: boolean; description: string; schema: Record<string, unknown> }>;
}

/**
 * Who may call a route: anyone (no token), any verified caller (the handler then checks the asset's
 * owner and grants), a service or an admin, or an admin alone.
 */
export type Access = 'anyone' | 'caller' | 'service' | 'admin';

export interface RouteDoc {
  method: Method;
  /** `metrics` follows STORAGE_METRICS_ACCESS: open, or admin only. */
  access: Access | 'metrics';
  /** Express form: `/api/v2/assets/:id`. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** A function of the limits where the document states a configured one. */
  body?: {
    schema: z.ZodType | ((limits: DocumentLimits) => z.ZodType);
    content?: string;
    encoding?: Record<string, { contentType: string }>;
    /** A request may come without one (an empty body is valid). */
    optional?: boolean;
  };
  responses: Record<number, Answer>;
  /** Why the route is served but left out of the OpenAPI document. */
  undocumented?: string;
}

/** Matched as Express matches routes: case-insensitive, a trailing slash allowed, a parameter one segment. */
export function patternOf(path: string): RegExp {
  const segments = path.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}/?$`, 'i');
}

/** The rule a route follows under this configuration. */
export function accessOf(route: Pick<RouteDoc, 'access'>, settings: Pick<DocumentLimits, 'metricsAccess'>): Access {
  if (route.access !== 'metrics') return route.access;
  return settings.metricsAccess === 'open' ? 'anyone' : 'admin';
}
