/**
 * The OpenAPI 3.1 document, generated from the route declarations (api/routes/): the zod schemas that
 * validate the requests, and those that describe the answers. Served at /openapi.json and rendered at /docs.
 */
import { z } from 'zod';
import type { Config } from '../lib/platform/config';
import { accessOf, type Access, type DocumentLimits, type HeaderDoc, type LinkDoc, type RouteDeclaration } from './http/route';
import { preconditionExtension, preconditionHeaders, preconditionStatuses } from './http/preconditions';
import { IDEMPOTENCY_KEY, REPLAYED, takesIdempotencyKey } from './middleware/idempotency';
import { OPERATIONS } from './routes';
import * as r from './schemas/responses';

export function documentLimitsOf(config: Pick<Config, 'uploads' | 'ingest' | 'metricsAccess' | 'rateLimits' | 'requireIfMatch'>): DocumentLimits {
  return {
    maxUploadBytes: config.uploads.maxSizeBytes,
    ingestAllowedHosts: config.ingest.allowedHosts,
    metricsAccess: config.metricsAccess,
    rateLimits: config.rateLimits.enabled,
    requireIfMatch: config.requireIfMatch,
  };
}

// draft-ietf-httpapi-ratelimit-headers, structured-field form (README, "Rate limits").
const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': {
    required: true,
    description: 'the budgets of the caller: reads, writes (requests) and content (bytes), each with its quota q per window w seconds',
    schema: { type: 'string', examples: ['"reads";q=1200;w=60, "writes";q=300;w=60, "content";q=2147483648;qu="content-bytes";w=60'] },
  },
  RateLimit: {
    required: true,
    description: 'what is left (r) of the budgets this request spent, and the seconds (t) until each is whole again',
    schema: { type: 'string', examples: ['"reads";r=1187;t=42'] },
  },
};
const RETRY_AFTER_HEADER = {
  'Retry-After': { required: true, description: 'seconds until the budget is whole again', schema: { type: 'integer', minimum: 0 } },
};

// Every change but tus's takes one (api/middleware/idempotency.ts; README, "Idempotent requests").
const IDEMPOTENCY_KEY_HEADER: Record<string, HeaderDoc> = {
  [IDEMPOTENCY_KEY]: {
    description:
      'a key of your own (1 to 255 printable ASCII characters; a quoted string as the IETF draft gives it, or bare) that names this one ' +
      'operation for 24 hours: the same request sent again with it is carried out once and answered as the first was (Idempotent-Replayed: true). ' +
      'Malformed: 400. The first still running: 409 with Retry-After. Another request under the same key: 422.',
    // What the middleware takes: bare, printable ASCII without a space at either end (HTTP trims those),
    // not opening with a quote; or a whole quoted structured-field string.
    schema: {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      pattern: '^(?:[\\x21\\x23-\\x7e](?:[\\x20-\\x7e]*[\\x21-\\x7e])?|"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\["\\\\])+")$',
      examples: ['"8e03978e-40d5-43e8-bc93-6894a57f9324"'],
    },
  },
};
const REPLAYED_HEADER: Record<string, HeaderDoc> = {
  [REPLAYED]: { description: 'true: the answer of the earlier request sent with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } },
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  return z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' });
}

/** Request headers the route reads, as header parameters. */
function headerParameters(headers: Record<string, HeaderDoc> = {}) {
  return Object.entries(headers).map(([name, header]) => ({
    name,
    in: 'header',
    required: header.required ?? false,
    description: header.description,
    schema: header.schema,
  }));
}

function parameters(where: 'path' | 'query', schema?: z.ZodObject) {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    // A name kept for one that replaced it (api/schemas/common.ts deprecatedName): said of the parameter.
    ...((s as { deprecated?: boolean }).deprecated ? { deprecated: true } : {}),
    schema: s,
  }));
}

/** `:id` is `{id}`; an escaped literal colon (`:id\:cancel`) is a colon. */
function openApiPath(expressPath: string): string {
  return expressPath.replace(/(?<!\\):(\w+)/g, '{$1}').replace(/\\:/g, ':');
}

/** Path parameters renamed since their operation ids were first given: the ids keep the former name. */
const FORMER_NAMES: Record<string, string> = { version_id: 'versionId' };

/** `get /api/v2/uploads/:id/parts/:n` is getUploadsByIdPartsByN: one per route, stable as long as the route is. */
function operationIdOf(route: Pick<RouteDeclaration, 'method' | 'path'>): string {
  const words = route.path
    .replace(/^\/api\/v2\//, '/')
    .split(/[/.]|\\:/)
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By${capitalize(FORMER_NAMES[segment.slice(1)] ?? segment.slice(1))}` : capitalize(segment)));
  return route.method + words.join('');
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** An answer's links: to each operation at or under the resource, with the parameters its path takes. */
function linksOf(links: LinkDoc[], routes: RouteDeclaration[]) {
  const out: Record<string, { operationId: string; parameters: Record<string, string> }> = {};
  for (const link of links) {
    for (const target of routes) {
      if (target.path !== link.resource && !target.path.startsWith(`${link.resource}/`)) continue;
      const taken = [...target.path.matchAll(/(?<!\\):(\w+)/g)].map((m) => m[1]).filter((name) => name in link.parameters);
      const operationId = operationIdOf(target);
      out[operationId] = { operationId, parameters: Object.fromEntries(taken.map((name) => [name, link.parameters[name]])) };
    }
  }
  return out;
}

/** The headers of an answer: its own, a replay's mark on a success of a route that takes a key, the rate limits'. */
function headersOf(route: RouteDeclaration, status: number, own: Record<string, HeaderDoc> | undefined, limits: DocumentLimits) {
  const headers = {
    ...own,
    ...(status < 300 && takesIdempotencyKey(route) ? REPLAYED_HEADER : {}),
    ...(limits.rateLimits ? RATE_LIMIT_HEADERS : {}),
  };
  return Object.keys(headers).length ? { headers } : {};
}

/** A public operation takes no token; any other, a bearer JWT (`x-access` says whose). */
function securityOf(access: Access) {
  return access === 'anyone' ? { security: [] } : { security: [{ bearer: [] }], 'x-access': access };
}

export function buildOpenApiDocument(limits: DocumentLimits, routes: RouteDeclaration[] = OPERATIONS) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      responses[status] = {
        description: answer.description,
        ...(answer.schema ? { content: { [answer.content ?? 'application/json']: { schema: jsonSchema(answer.schema, 'output') } } } : {}),
        ...(answer.links ? { links: linksOf(answer.links, routes) } : {}),
        ...headersOf(route, Number(status), answer.headers, limits),
      };
    }
    const problemContent = { 'application/problem+json': { schema: jsonSchema(r.problem, 'output') } };
    for (const [status, description] of Object.entries(preconditionStatuses(route, limits))) {
      responses[status] ??= { description, content: problemContent, ...headersOf(route, Number(status), undefined, limits) };
    }
    if (limits.rateLimits) {
      responses[429] = { description: 'over a rate limit', headers: { ...RETRY_AFTER_HEADER, ...RATE_LIMIT_HEADERS }, content: problemContent };
    }
    responses.default = { description: 'an error', content: problemContent, ...(limits.rateLimits ? { headers: RATE_LIMIT_HEADERS } : {}) };
    const body = route.body && (typeof route.body.schema === 'function' ? route.body.schema(limits) : route.body.schema);
    (paths[openApiPath(route.path)] ??= {})[route.method] = {
      operationId: operationIdOf(route),
      summary: route.summary,
      ...securityOf(accessOf(route, limits)),
      tags: [route.tag],
      ...(preconditionExtension(route) ? { 'x-preconditions': preconditionExtension(route) } : {}),
      parameters: [
        ...parameters('path', route.params),
        ...parameters('query', route.query),
        ...headerParameters({ ...route.headers, ...preconditionHeaders(route, limits), ...(takesIdempotencyKey(route) ? IDEMPOTENCY_KEY_HEADER : {}) }),
      ],
      ...(body
        ? {
            requestBody: {
              required: !route.body!.optional,
              content: {
                [route.body!.content ?? 'application/json']: {
                  schema: jsonSchema(body, 'input'),
                  ...(route.body!.encoding ? { encoding: route.body!.encoding } : {}),
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Storage Service', version: '2.0.0', description: 'The binary asset store of the D&D Character Creator system.' },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
