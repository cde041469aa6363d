/**
 * The OpenAPI 3.1 document, generated from the route declarations (api/routes/): the zod schemas that
 * validate the requests, and those that describe the answers. Served at /openapi.json and rendered at /docs.
 *
 * What it adds to each declaration, as the server does it: the HEAD of every GET, X-Request-Id on every
 * request and answer, the problems any operation may answer (400 where it takes input, 401 and 403 where
 * it needs a token, 404 where its path names something, 413 and 415 where it takes a body, 409 and 422
 * where it takes an Idempotency-Key, 429 under rate limits, 500, 503), each with the schemas of its
 * problem types (api/http/problemTypes.ts). Schemas given an id (`.meta({ id })`) are shared in
 * components.schemas; answers' schemas are open to new fields, requests' closed.
 */
import { z } from 'zod';
import type { Config } from '../lib/platform/config';
import { PROBLEM_KINDS, defaultKindOf, problemKindNames, problemTypeOf, type ProblemKind, type ProblemKindName } from './http/problemTypes';
import { accessOf, takesJson, type Access, type Answer, type DocumentLimits, type HeaderDoc, type LinkDoc, type RouteDeclaration } from './http/route';
import { preconditionExtension, preconditionHeaders, preconditionStatuses } from './http/preconditions';
import { MERGE_PATCH } from './http/jsonBody';
import { DEPRECATION_HEADERS } from './http/lists';
import { IDEMPOTENCY_KEY, REPLAYED, takesIdempotencyKey } from './middleware/idempotency';
import { OPERATIONS } from './routes';
import * as r from './schemas/responses';
import { TUS_PATH, TUS_VERSION } from './schemas/tus';

export function documentLimitsOf(config: Pick<Config, 'uploads' | 'ingest' | 'metricsAccess' | 'rateLimits' | 'requireIfMatch'>): DocumentLimits {
  return {
    maxUploadBytes: config.uploads.maxSizeBytes,
    ingestAllowedHosts: config.ingest.allowedHosts,
    metricsAccess: config.metricsAccess,
    rateLimits: config.rateLimits.enabled,
    requireIfMatch: config.requireIfMatch,
  };
}

type Json = Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

// draft-ietf-httpapi-ratelimit-headers, structured-field form (docs/security.md, "Rate limits").
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
const retryAfter = (description: string, required = true): Record<string, HeaderDoc> => ({
  'Retry-After': { required, description, schema: { type: 'integer', minimum: 0 } },
});

const REQUEST_ID = 'X-Request-Id';
const REQUEST_ID_HEADER: Record<string, HeaderDoc> = {
  [REQUEST_ID]: {
    required: true,
    description: "the request's id: the client's own X-Request-Id when it sent one, else a new UUID; quote it when reporting a problem",
    schema: { type: 'string' },
  },
};
const REQUEST_ID_PARAMETER = {
  name: REQUEST_ID,
  in: 'header',
  required: false,
  description:
    'an id of your own for the request (kept across its retries): the answer carries it back, and the logs and audit trail name it. ' +
    'One of 1 to 128 letters, digits, `_`, `.`, `:` and `-` is kept; another is not refused but replaced by a new UUID.',
  schema: { type: 'string' },
};

/** RFC 9745: an answer to a request that used something deprecated. */
// Every change but tus's takes one (api/middleware/idempotency.ts; docs/api.md, "Idempotent requests").
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
  [REPLAYED]: {
    required: false,
    description: 'true: the answer of the earlier request sent with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
};

/** Every answer under /api/v2/tus, errors included (api/middleware/tusProtocol.ts). */
const TUS_RESUMABLE_HEADER: Record<string, HeaderDoc> = {
  'Tus-Resumable': { required: true, description: 'the tus version of the answer', schema: { type: 'string', const: TUS_VERSION } },
};

/** The headers each problem status carries beside X-Request-Id and the rate limits. */
const PROBLEM_HEADERS: Record<number, Record<string, HeaderDoc>> = {
  401: {
    'WWW-Authenticate': { required: true, description: 'Bearer, with error="invalid_token" and what failed', schema: { type: 'string' } },
  },
  409: retryAfter('for a request under the same Idempotency-Key still running: seconds until it is worth sending again', false),
  416: { 'Content-Range': { required: true, description: '`bytes */<size>`: the size of the content', schema: { type: 'string' } } },
  429: retryAfter('seconds until the budget is whole again'),
  503: retryAfter('seconds until it is worth trying again'),
};

/** The shared schemas, filled as the operations are generated. */
class Components {
  readonly schemas: Record<string, Json> = {};

  /** A zod schema as JSON Schema, the schemas it holds that have an id moved to components.schemas. */
  schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' }) as Json;
    const defs = (json.$defs ?? {}) as Record<string, Json>;
    delete json.$defs;
    delete json.$schema;
    // An id whose input differs from its output (transforms, defaults) is shared under a name of its own.
    const names: Record<string, string> = {};
    for (const [id, def] of Object.entries(defs)) {
      const shaped = shape(def, io);
      const name = io === 'input' && this.schemas[id] && JSON.stringify(this.schemas[id]) !== JSON.stringify(shaped) ? `${id}Input` : id;
      names[id] = name;
    }
    for (const [id, def] of Object.entries(defs)) this.schemas[names[id]] = relinked(shape(def, io), names);
    return relinked(shape(json, io), names);
  }
}

/** Answers stay open to new fields (a strict client must not break on one); requests stay closed. */
function shape(schema: Json, io: 'input' | 'output'): Json {
  if (io === 'input') return schema;
  return walk(schema, (node) => {
    if (node.additionalProperties === false) delete node.additionalProperties;
  });
}

function relinked(schema: Json, names: Record<string, string>): Json {
  return walk(schema, (node) => {
    if (typeof node.$ref === 'string' && node.$ref.startsWith('#/$defs/')) node.$ref = `#/components/schemas/${names[node.$ref.slice(8)]}`;
  });
}

/** A deep copy of `schema`, `visit` given each object of it. */
export function walk<T>(schema: T, visit: (node: Json) => void): T {
  const copy = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(copy);
    if (value === null || typeof value !== 'object') return value;
    const node = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)]));
    visit(node);
    return node;
  };
  return copy(schema) as T;
}

const pascal = (kind: string) => kind.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase());
export const problemSchemaName = (kind: ProblemKindName) => `${pascal(kind)}Problem`;

// A valid value of each field a kind always carries, for its example.
const PROBLEM_EXAMPLE_FIELDS: Partial<Record<ProblemKindName, Json>> = {
  'missing-parts': { missing_parts: [3, 4] },
  'version-damaged': {
    asset_id: '0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10',
    version_id: '0190c6d2-8a01-7b22-9c33-4d5e6f708192',
    damaged_at: '2026-12-07T04:10:00.000Z',
  },
  'rate-limited': { policy: 'writes' },
  'content-type-mismatch': { declared_type: 'image/png', detected_type: 'image/jpeg' },
  'quota-exceeded': { owner_id: 'alice', quota: 'bytes', requested: 1048576, usage: 1073000000, limit: 1073741824 },
  validation: { errors: [{ path: 'body.name', message: 'must not be empty' }] },
};

/** Each problem type as a schema of its own: its `type` URI, the common fields and its own. */
function problemSchemas(components: Components): void {
  components.schemas.ProblemDetails = components.schemaOf(r.problem, 'output');
  components.schemas.Problem = {
    description: 'A problem of any type: one of those this API answers, or another (RFC 9457) a client should read by its status.',
    anyOf: [...problemKindNames.map((kind) => ref(problemSchemaName(kind))), ref('ProblemDetails')],
  };
  for (const kind of problemKindNames) {
    const { status, title, description, fields }: ProblemKind = PROBLEM_KINDS[kind];
    const schema = r.problemFields.extend({ type: z.literal(problemTypeOf(kind)), ...fields }).meta({
      title: `${kind} (${status})`,
      description: `${description} Its page: ${problemTypeOf(kind)}.`,
      examples: [
        {
          type: problemTypeOf(kind),
          title,
          status,
          detail: `a ${kind} problem, in words`,
          instance: '/api/v2/assets/0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10',
          errors: [],
          ...PROBLEM_EXAMPLE_FIELDS[kind],
        },
      ],
    });
    components.schemas[problemSchemaName(kind)] = components.schemaOf(schema, 'output');
  }
}

const problemContent = (kinds: ProblemKindName[]) => ({
  'application/problem+json': { schema: kinds.length === 1 ? ref(problemSchemaName(kinds[0])) : { anyOf: kinds.map((k) => ref(problemSchemaName(k))) } },
});

/** Request headers the route reads, as header parameters. */
function headerParameters(headers: Record<string, HeaderDoc> = {}) {
  return Object.entries(headers).map(([name, header]) => ({
    name,
    in: 'header',
    required: header.required ?? false,
    description: header.description,
    ...(header.deprecated ? { deprecated: true } : {}),
    schema: header.schema,
  }));
}

function parameters(components: Components, where: 'path' | 'query', schema?: z.ZodObject) {
  if (!schema) return [];
  const object = components.schemaOf(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, s]) => {
    const { description, deprecated, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(description ? { description } : {}),
      ...(deprecated ? { deprecated: true } : {}),
      schema: rest,
    };
  });
}

/** `:id` is `{id}`; an escaped literal colon (`:id\:cancel`) is a colon. */
function openApiPath(expressPath: string): string {
  return expressPath.replace(/(?<!\\):(\w+)/g, '{$1}').replace(/\\:/g, ':');
}

/** Path parameters renamed since their operation ids were first given: the ids keep the former name. */
const FORMER_NAMES: Record<string, string> = { version_id: 'versionId' };

/** `get /api/v2/uploads/:id/parts/:n` is getUploadsByIdPartsByN: one per route, stable as long as the route is. */
export function operationIdOf(route: Pick<RouteDeclaration, 'method' | 'path'>): string {
  const words = route.path
    .replace(/^\/api\/v2\//, '/')
    .split(/[/.]|\\:/)
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By${capitalize(FORMER_NAMES[segment.slice(1)] ?? segment.slice(1))}` : capitalize(segment)));
  // `/` has no segment to be named by: `getRoot`, not a bare `get`.
  return route.method + (words.join('') || 'Root');
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

/**
 * Who may call an operation, as security requirements: none for a public one; any verified token
 * (`user`); a service's or an admin's (`service`, or `admin`); an admin's alone (`admin`).
 */
function securityOf(access: Access) {
  if (access === 'anyone') return [];
  if (access === 'caller') return [{ user: [] }];
  if (access === 'service') return [{ service: [] }, { admin: [] }];
  return [{ admin: [] }];
}

const JWT = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } as const;
const SECURITY_SCHEMES = {
  user: {
    ...JWT,
    description:
      "Any token the API verifies (signature against the issuer's keys, STORAGE_AUTH_ISSUER and STORAGE_AUTH_AUDIENCE, expiry): `sub` is the caller (an owner id), " +
      "the groups claim (STORAGE_AUTH_GROUPS_CLAIM, default `groups`) the groups their grants may name. What they may do with an asset is then its owner's and grants' affair.",
  },
  service: {
    ...JWT,
    description:
      'A verified token whose roles claim (STORAGE_AUTH_ROLES_CLAIM, default `roles`; a list or a space-separated string) holds `storage:service`: acts for any owner.',
  },
  admin: {
    ...JWT,
    description: 'A verified token whose roles claim (STORAGE_AUTH_ROLES_CLAIM) holds `storage:admin`: every operation, for any owner.',
  },
};

const headerObject = (h: HeaderDoc) => ({
  required: h.required ?? false,
  description: h.description,
  ...(h.deprecated ? { deprecated: true } : {}),
  schema: h.schema,
});

/** The headers many answers carry, in components.headers. */
const SHARED_HEADERS: Record<string, HeaderDoc> = { ...REQUEST_ID_HEADER, ...RATE_LIMIT_HEADERS, ...REPLAYED_HEADER, ...TUS_RESUMABLE_HEADER };

function headerObjects(headers: Record<string, HeaderDoc>) {
  return Object.fromEntries(
    Object.entries(headers).map(([name, h]) => [name, SHARED_HEADERS[name] === h ? { $ref: `#/components/headers/${name}` } : headerObject(h)]),
  );
}

interface Built {
  route: RouteDeclaration;
  parameters: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
}

function usesDeprecated(route: RouteDeclaration, parameterList: Json[]): boolean {
  return route.deprecated === true || parameterList.some((p) => p.deprecated === true);
}

/** What the problems every operation of a shape may give mean there. */
const GENERIC_PROBLEMS: Record<number, string> = {
  400: 'the request breaks a rule: errors names the fields',
  401: 'no bearer token, or one that does not verify',
  403: 'the token may not do this',
  404: 'nothing the caller may see at this path',
  409: 'a request under the same Idempotency-Key still runs: send it again after Retry-After',
  413: 'the body is larger than the API takes',
  415: 'the body is not of the media type the operation takes',
  422: 'the Idempotency-Key was sent before with another request',
  429: 'over a rate limit: send it again after Retry-After',
  500: 'the server failed to carry out the request; it has been logged',
  503: 'a dependency cannot be reached, or the service is overloaded: try again after Retry-After',
};

/** The problem answers any operation of this shape may give, beside those its declaration names. */
function problemStatusesOf(route: RouteDeclaration, access: Access, limits: DocumentLimits): number[] {
  const statuses = [500, 503];
  const takesInput = route.params || route.query || route.body || route.headers || takesIdempotencyKey(route);
  if (takesInput) statuses.push(400);
  if (access !== 'anyone') statuses.push(401, 403);
  if (route.params) statuses.push(404);
  if (route.body) statuses.push(413);
  if (route.body && takesJson(route)) statuses.push(415);
  if (takesIdempotencyKey(route)) statuses.push(409, 422);
  if (limits.rateLimits) statuses.push(429);
  return statuses;
}

/**
 * The request body, not required where the handler reads a missing JSON body as {} (`req.body ?? {}`)
 * and {} is valid; a merge patch always is (api/http/jsonBody.ts refuses a PATCH without one).
 */
function requestBodyOf(components: Components, route: RouteDeclaration, limits: DocumentLimits): Json | undefined {
  const body = route.body && (typeof route.body.schema === 'function' ? route.body.schema(limits) : route.body.schema);
  if (!body) return undefined;
  return {
    required: !(route.body!.optional || (takesJson(route) && route.body!.content !== MERGE_PATCH && body.safeParse({}).success)),
    content: {
      [route.body!.content ?? 'application/json']: {
        schema: components.schemaOf(body, 'input'),
        ...(route.body!.encoding ? { encoding: route.body!.encoding } : {}),
      },
    },
  };
}

function buildOperation(components: Components, route: RouteDeclaration, routes: RouteDeclaration[], limits: DocumentLimits): Built {
  const access = accessOf(route, limits);
  const parameterList: Json[] = [
    ...parameters(components, 'path', route.params),
    ...parameters(components, 'query', route.query),
    ...headerParameters({ ...route.headers, ...preconditionHeaders(route, limits), ...(takesIdempotencyKey(route) ? IDEMPOTENCY_KEY_HEADER : {}) }),
    { $ref: `#/components/parameters/${REQUEST_ID}` },
  ];
  const every: Record<string, HeaderDoc> = {
    ...REQUEST_ID_HEADER,
    ...(limits.rateLimits ? RATE_LIMIT_HEADERS : {}),
    ...(route.path === TUS_PATH || route.path.startsWith(`${TUS_PATH}/`) ? TUS_RESUMABLE_HEADER : {}),
    ...(takesIdempotencyKey(route) ? REPLAYED_HEADER : {}),
  };
  const responses: Record<string, Json> = {};
  const declared: Record<string, Answer> = { ...route.responses };
  for (const [status, description] of Object.entries(preconditionStatuses(route, limits))) declared[Number(status)] ??= { description };
  for (const status of problemStatusesOf(route, access, limits)) declared[status] ??= { description: GENERIC_PROBLEMS[status] };
  const statuses = Object.keys(declared).sort();
  for (const status of statuses) {
    const answer = declared[Number(status)];
    const code = Number(status);
    const isProblem = code >= 400 && (!answer.schema || answer.schema === r.problem);
    const kinds = isProblem ? (answer.problems ?? fallbackKinds(code)) : [];
    const content = isProblem
      ? problemContent(kinds)
      : answer.schema
        ? { [answer.content ?? 'application/json']: { schema: components.schemaOf(answer.schema, 'output') } }
        : answer.content
          ? { [answer.content]: { schema: answer.content.startsWith('application/json') ? {} : { type: 'string', format: 'binary' } } }
          : undefined;
    const headers: Record<string, HeaderDoc> = {
      ...answer.headers,
      ...(isProblem ? PROBLEM_HEADERS[code] : {}),
      ...every,
      // Said on any answer to a request that used one, a refusal too.
      ...(usesDeprecated(route, parameterList) ? DEPRECATION_HEADERS : {}),
    };
    responses[status] = {
      description: answer.description,
      headers: headerObjects(headers),
      ...(content ? { content } : {}),
      ...(answer.links ? { links: linksOf(answer.links, routes) } : {}),
    };
  }
  responses.default = {
    description: 'any other problem',
    headers: headerObjects(every),
    content: { 'application/problem+json': { schema: ref('Problem') } },
  };
  const requestBody = requestBodyOf(components, route, limits);
  return { route, parameters: parameterList, requestBody, responses };
}

/** A status's first kind: the others of it (missing-parts, signed-url-refused, ...) are named by the routes that give them. */
function fallbackKinds(status: number): ProblemKindName[] {
  return [defaultKindOf(status)];
}

/** HEAD, as Express answers it for a GET: the same status and headers, no body. */
function headOf(built: Built): Built {
  const responses = Object.fromEntries(
    Object.entries(built.responses).map(([status, answer]) => {
      const { content: _content, links: _links, ...rest } = answer;
      return [status, rest];
    }),
  );
  return { ...built, route: { ...built.route, method: 'head', summary: `${built.route.summary} (headers only)` }, responses };
}

function operationOf(built: Built, limits: DocumentLimits) {
  const { route } = built;
  return {
    operationId: operationIdOf(route),
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.deprecated ? { deprecated: true } : {}),
    security: securityOf(accessOf(route, limits)),
    tags: [route.tag],
    ...(preconditionExtension(route) ? { 'x-preconditions': preconditionExtension(route) } : {}),
    parameters: built.parameters,
    ...(built.requestBody ? { requestBody: built.requestBody } : {}),
    responses: built.responses,
  };
}

export function buildOpenApiDocument(limits: DocumentLimits, routes: RouteDeclaration[] = OPERATIONS) {
  const components = new Components();
  problemSchemas(components);
  const paths: Record<string, Record<string, unknown>> = {};
  const heads = new Set(routes.filter((route) => route.method === 'head').map((route) => route.path));
  for (const route of routes) {
    const built = buildOperation(components, route, routes, limits);
    const path = (paths[openApiPath(route.path)] ??= {});
    path[route.method] = operationOf(built, limits);
    if (route.method === 'get' && !heads.has(route.path)) path.head = operationOf(headOf(built), limits);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Storage Service',
      version: '2.0.0',
      description:
        'The binary asset store of the D&D Character Creator system. Errors are RFC 9457 problem details; each `type` is a page on this server (GET /problems lists them).',
    },
    servers: [{ url: '/' }],
    tags: [...new Set(routes.map((route) => route.tag))].sort().map((name) => ({ name })),
    components: {
      schemas: components.schemas,
      headers: Object.fromEntries(Object.entries(SHARED_HEADERS).map(([name, h]) => [name, headerObject(h)])),
      parameters: { [REQUEST_ID]: REQUEST_ID_PARAMETER },
      securitySchemes: SECURITY_SCHEMES,
    },
    paths,
  };
}
