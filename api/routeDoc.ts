/** How a route is documented: the types the route tables (api/openapi.ts, api/schemas/*) share. */
import type { z } from 'zod';

export type Method = 'get' | 'post' | 'put' | 'delete';

/** What the document states from the configuration. */
export interface DocumentLimits {
  maxUploadBytes: number;
  ingestAllowedHosts: string[];
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
}

export interface RouteDoc {
  method: Method;
  /** Express form: `/api/v2/assets/:id`. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** A function of the limits where the document states a configured one. */
  body?: { schema: z.ZodType | ((limits: DocumentLimits) => z.ZodType); content?: string; encoding?: Record<string, { contentType: string }> };
  responses: Record<number, Answer>;
}
