/**
 * What every list shares: its query read with the page's `limit` lowered to the maximum (said in
 * Limit-Applied), and its deprecated parameter names still taken (said in Deprecation, RFC 9745).
 */
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { ValidationError } from '../../lib/platform/errors';
import { MAX_PAGE_LIMIT, parse } from '../schemas/common';
import { pageOf } from '../schemas/responses';
import type { Answer, HeaderDoc } from './route';

export const LIMIT_APPLIED = 'Limit-Applied';

/** When the names the lists replaced were deprecated (2026-12-07T00:00:00Z), as RFC 9745's Date. */
export const DEPRECATED_SINCE = '@1796601600';
/** Where a deprecated name's successor is stated: each deprecated parameter's description names it. */
const DEPRECATION_LINK = '</docs>; rel="deprecation"; type="text/html"';

const LIMIT_APPLIED_HEADER: Record<string, HeaderDoc> = {
  [LIMIT_APPLIED]: {
    description: `the limit the page was cut to: sent when the limit asked for was over ${MAX_PAGE_LIMIT}, which is then used instead`,
    schema: { type: 'integer', const: MAX_PAGE_LIMIT },
  },
};

/** What an answer to a request that used a deprecated name carries; api/openapi.ts declares them on every answer of its operation. */
export const DEPRECATION_HEADERS: Record<string, HeaderDoc> = {
  Deprecation: {
    description: `the request used a deprecated name (a parameter marked deprecated); RFC 9745: deprecated since the date given (${DEPRECATED_SINCE}, 2026-12-07)`,
    schema: { type: 'string', const: DEPRECATED_SINCE },
  },
  Link: {
    description: 'with a deprecated name: rel="deprecation", the documentation that names its successor',
    schema: { type: 'string' },
  },
};

/** A list's 200: a page of `item`, with the headers a list may send. */
export function pageAnswer(item: z.ZodType): Answer {
  return {
    description: 'a page: pass next_cursor as cursor for the next one',
    schema: pageOf(item),
    headers: LIMIT_APPLIED_HEADER,
  };
}

/** Marks the answer: the request used a deprecated name. */
export function markDeprecated(res: Response): void {
  if (res.getHeader('Deprecation') !== undefined) return;
  res.setHeader('Deprecation', DEPRECATED_SINCE);
  res.append('Link', DEPRECATION_LINK);
}

/**
 * A list's query, parsed. `renamed` maps each deprecated name the list still takes to the name that
 * replaces it: one of the two, not both; using the old one marks the answer (markDeprecated). A limit
 * over the maximum was lowered by the schema (common.ts pageQuery): the answer says so.
 */
export function listQueryOf<S extends z.ZodType<Record<string, unknown>>>(
  schema: S,
  req: Request,
  res: Response,
  renamed: Record<string, string> = {},
): z.infer<S> {
  const query = parse(schema, req.query, 'query') as z.infer<S>;
  const used = Object.keys(renamed).filter((old) => query[old] !== undefined);
  for (const old of used) {
    const successor = renamed[old];
    if (query[successor] !== undefined) {
      throw new ValidationError(`invalid query: ${old} is the deprecated name of ${successor}: give one of them`, [
        { path: old, message: `not with ${successor}, which replaces it` },
      ]);
    }
  }
  if (used.length) markDeprecated(res);
  if (Number(req.query.limit) > MAX_PAGE_LIMIT) res.setHeader(LIMIT_APPLIED, String(MAX_PAGE_LIMIT));
  return query;
}
