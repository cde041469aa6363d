/**
 * The OpenAPI 3.1 document, generated from the zod schemas that validate the requests (and those
 * that describe the answers). Served at /openapi.json and rendered at /docs.
 */
import { z } from 'zod';
import * as assets from './schemas/assets';
import { AUDIT_ROUTES } from './schemas/audit';
import { BACKUP_ROUTES } from './schemas/backups';
import { LIFECYCLE_ROUTES } from './schemas/policies';
import { QUOTA_ROUTES } from './schemas/quotas';
import { SIGNED_URL_ROUTES } from './schemas/signedUrls';
import { TUS_ROUTES } from './schemas/tusRoutes';
import { assetName, contentType, idParams, metadataObject, ownerId, pageQuery, redirectQuery, sha256Hex, singleLine, versionParams } from './schemas/common';
import type { Config } from '../lib/platform/config';
import { accessOf, type Access, type Answer, type DocumentLimits, type LinkDoc, type RouteDoc } from './http/route';
import * as events from './schemas/events';
import * as r from './schemas/responses';
import * as uploads from './schemas/uploads';

export function documentLimitsOf(config: Pick<Config, 'uploads' | 'ingest' | 'metricsAccess' | 'rateLimits'>): DocumentLimits {
  return {
    maxUploadBytes: config.uploads.maxSizeBytes,
    ingestAllowedHosts: config.ingest.allowedHosts,
    metricsAccess: config.metricsAccess,
    rateLimits: config.rateLimits.enabled,
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

const paged = z.object(pageQuery);
const binary = z.string().meta({ format: 'binary' });
const accepted202: Answer = {
  description: 'finishing outlasted the wait; follow status_url',
  schema: r.uploadAccepted,
  links: [{ resource: '/api/v2/uploads/:id', parameters: { id: '$response.body#/upload_id' } }],
};
const uploadForm = z
  .object({
    file: binary,
    name: assetName.optional().describe("default: the file's name"),
    content_type: contentType.optional(),
    metadata: metadataObject.optional().describe('a JSON object of strings, in a field of its own'),
    tags: z.array(singleLine(128)).optional().describe('repeated, or comma-separated'),
    checksum_sha256: sha256Hex.optional(),
    owner_id: ownerId.optional().describe('services and admins: the user a new asset is made for (default: the caller)'),
  })
  .strict();
const versionForm = uploadForm.omit({ owner_id: true });
// The metadata field is JSON text: the encoding says so, and the schema describes what it holds.
const formEncoding = { metadata: { contentType: 'application/json' } };
const uploadFormBody = { schema: uploadForm, content: 'multipart/form-data', encoding: formEncoding };
const versionFormBody = { schema: versionForm, content: 'multipart/form-data', encoding: formEncoding };
const versionLinks: LinkDoc[] = [
  { resource: '/api/v2/assets/:id/versions/:versionId', parameters: { id: '$response.body#/asset_id', versionId: '$response.body#/id' } },
];
const overQuota = r.problemAnswer(
  "over the owner's quota (type ...:quota-exceeded, with quota, owner_id and requested; usage and limit for the owner and admins only)",
);
// Every request on a session checks that its caller may still write its asset (api/sessionAccess.ts).
const sessionRefused = {
  403: r.problemAnswer('the caller may now only read the asset: the session is aborted'),
  404: r.problemAnswer("unknown, another user's, or its asset no longer readable by the caller (an open session is then aborted)"),
};
const assetLinks: LinkDoc[] = [{ resource: '/api/v2/assets/:id', parameters: { id: '$response.body#/id', versionId: '$response.body#/current_version_id' } }];

/** Every route the API serves. test/openapi.test.ts checks that the app serves no route missing here. */
/** What a content route answers: the bytes, a range, 304, a redirect to the store, or 416. */
const contentResponses = {
  200: { description: 'the bytes', content: 'application/octet-stream', headers: r.servedContentHeaders },
  206: { description: 'a range', content: 'application/octet-stream', headers: r.servedContentHeaders },
  304: { description: 'not modified', headers: r.servedContentHeaders },
  307: r.redirectedToStore,
  416: r.problemAnswer('range past the end'),
} as const;

export const ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/health/live',
    access: 'anyone',
    tag: 'operations',
    summary: 'Liveness',
    responses: { 200: { description: 'the process runs', schema: r.liveness } },
  },
  {
    method: 'get',
    path: '/health/ready',
    access: 'anyone',
    tag: 'operations',
    summary: 'Readiness: PostgreSQL, S3 and Temporal answer, and the API is not draining (SIGTERM)',
    responses: { 200: { description: 'ready', schema: r.readiness }, 503: { description: 'not ready, or draining', schema: r.readiness } },
  },
  {
    method: 'get',
    path: '/health',
    access: 'anyone',
    tag: 'operations',
    summary: 'Combined health',
    responses: { 200: { description: 'ok', schema: r.health }, 503: { description: 'degraded or down', schema: r.health } },
  },
  {
    method: 'get',
    path: '/metrics',
    access: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'text format', content: 'text/plain' } },
  },
  { method: 'get', path: '/openapi.json', access: 'anyone', tag: 'operations', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
  {
    method: 'get',
    path: '/docs',
    access: 'anyone',
    tag: 'operations',
    summary: 'This document, rendered',
    responses: { 200: { description: 'HTML', content: 'text/html' } },
  },

  {
    method: 'post',
    path: '/api/v2/assets/upload',
    access: 'caller',
    tag: 'assets',
    summary: 'Upload a file as a new asset (streamed, verified, committed by uploadWorkflow)',
    body: uploadFormBody,
    responses: {
      201: { description: 'the new asset', schema: r.asset, links: assetLinks },
      202: accepted202,
      413: r.problemAnswer('over STORAGE_MAX_UPLOAD_SIZE'),
      415: r.problemAnswer('not multipart'),
      422: r.problemAnswer('checksum mismatch'),
      507: overQuota,
    },
  },
  {
    method: 'get',
    path: '/api/v2/assets',
    access: 'caller',
    tag: 'assets',
    summary: 'List assets',
    query: assets.listAssetsQuery,
    responses: { 200: { description: 'a page', schema: r.pageOf(r.asset) } },
  },
  {
    method: 'get',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'One asset (ETag for If-Match)',
    params: idParams,
    query: assets.includeDeletedQuery,
    responses: { 200: { description: 'the asset', schema: r.asset }, 404: r.problemAnswer('unknown or soft-deleted') },
  },
  {
    method: 'put',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'Replace the given fields (optional If-Match)',
    params: idParams,
    body: { schema: assets.updateAssetBody },
    responses: { 200: { description: 'the asset', schema: r.asset }, 412: r.problemAnswer('If-Match is stale') },
  },
  {
    method: 'delete',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'Soft delete; ?permanent=true removes every version through deleteAssetWorkflow',
    params: idParams,
    query: assets.deleteAssetQuery,
    responses: { 204: { description: 'deleted' }, 202: { description: 'permanent deletion under way', schema: r.workflowAccepted } },
  },
  {
    method: 'post',
    path: '/api/v2/assets/:id/restore',
    access: 'caller',
    tag: 'assets',
    summary: 'Undo a soft delete',
    params: idParams,
    responses: { 200: { description: 'the asset', schema: r.asset }, 409: r.problemAnswer('not deleted, or being deleted for good') },
  },
  {
    method: 'put',
    path: '/api/v2/assets/:id/grants',
    access: 'caller',
    tag: 'assets',
    summary: "Replace the asset's grants (owner, services and admins): read, or also write (versions, metadata, soft delete); optional If-Match",
    params: idParams,
    body: { schema: assets.grantsBody },
    responses: {
      200: { description: "the grants (ETag: the asset's new one)", schema: r.grantList },
      403: r.problemAnswer('not the owner'),
      412: r.problemAnswer('If-Match is stale: the asset changed since it was read, and its grants are as they were'),
    },
  },
  {
    method: 'get',
    path: '/api/v2/assets/:id/content',
    access: 'caller',
    tag: 'assets',
    summary: "The current version's bytes (Range, If-None-Match, HEAD), streamed or straight from the store",
    params: idParams,
    query: redirectQuery,
    responses: contentResponses,
  },

  {
    method: 'get',
    path: '/api/v2/assets/:id/versions',
    access: 'caller',
    tag: 'versions',
    summary: 'Versions, newest first',
    params: idParams,
    query: paged,
    responses: { 200: { description: 'a page', schema: r.pageOf(r.version) } },
  },
  {
    method: 'post',
    path: '/api/v2/assets/:id/versions',
    access: 'caller',
    tag: 'versions',
    summary: 'Upload a new current version',
    params: idParams,
    body: versionFormBody,
    responses: {
      201: { description: 'the version', schema: r.version, links: versionLinks },
      202: accepted202,
      403: r.problemAnswer('read only, or made so while the file streamed (the upload is refused)'),
      404: r.problemAnswer('unknown, or no longer readable by the caller, even while the file streamed'),
      507: overQuota,
    },
  },
  {
    method: 'get',
    path: '/api/v2/assets/:id/versions/:versionId',
    access: 'caller',
    tag: 'versions',
    summary: 'One version',
    params: versionParams,
    responses: { 200: { description: 'the version', schema: r.version } },
  },
  {
    method: 'get',
    path: '/api/v2/assets/:id/versions/:versionId/content',
    access: 'caller',
    tag: 'versions',
    summary: "A version's bytes, streamed or straight from the store",
    params: versionParams,
    query: redirectQuery,
    responses: contentResponses,
  },
  {
    method: 'post',
    path: '/api/v2/assets/:id/versions/:versionId/restore',
    access: 'caller',
    tag: 'versions',
    summary: 'Copy a version into a new current version',
    params: versionParams,
    responses: { 201: { description: 'the new version', schema: r.version, links: versionLinks }, 202: accepted202, 507: overQuota },
  },

  {
    method: 'post',
    path: '/api/v2/uploads',
    access: 'caller',
    tag: 'uploads',
    summary: 'Open a chunked upload session',
    body: { schema: (limits) => uploads.documentedCreateUploadBody(limits.maxUploadBytes) },
    responses: {
      201: { description: 'the session', schema: r.uploadSession, links: [{ resource: '/api/v2/uploads/:id', parameters: { id: '$response.body#/id' } }] },
      413: r.problemAnswer('size over STORAGE_MAX_UPLOAD_SIZE'),
      507: overQuota,
    },
  },
  {
    method: 'get',
    path: '/api/v2/uploads/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Session status, live from its workflow',
    params: idParams,
    responses: { 200: { description: 'the session', schema: r.uploadSession }, ...sessionRefused },
  },
  {
    method: 'put',
    path: '/api/v2/uploads/:id/parts/:n',
    access: 'caller',
    tag: 'uploads',
    summary: 'Send (or re-send) part n; Content-Length required, X-Checksum-SHA256 optional',
    params: uploads.partParams,
    // Empty is a part too: the only part of an empty upload.
    body: { schema: binary, content: 'application/octet-stream', optional: true },
    responses: {
      200: { description: 'stored', schema: r.partStored },
      ...sessionRefused,
      409: r.problemAnswer('session not open'),
      422: r.problemAnswer('part checksum mismatch'),
    },
  },
  {
    method: 'post',
    path: '/api/v2/uploads/:id/parts/:n/url',
    access: 'caller',
    tag: 'uploads',
    summary: 'A presigned S3 URL to PUT part n',
    params: uploads.partParams,
    responses: { 200: { description: 'the URL', schema: r.presignedPart }, ...sessionRefused },
  },
  {
    method: 'post',
    path: '/api/v2/uploads/:id/complete',
    access: 'caller',
    tag: 'uploads',
    summary: 'Assemble, verify, commit',
    params: idParams,
    responses: {
      200: { description: 'done', schema: r.completedUpload },
      202: accepted202,
      ...sessionRefused,
      409: r.problemAnswer('parts missing (missing_parts) or session not open'),
      422: r.problemAnswer('checksum mismatch'),
    },
  },
  {
    method: 'delete',
    path: '/api/v2/uploads/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Abort',
    params: idParams,
    responses: { 204: { description: 'aborted' }, ...sessionRefused },
  },

  {
    method: 'get',
    path: '/api/v2/events',
    access: 'admin',
    tag: 'events',
    summary: 'The event feed, oldest first',
    query: z.object({ after: pageQuery.cursor, limit: pageQuery.limit }),
    responses: { 200: { description: 'events', schema: r.pageOf(r.cloudEvent) } },
  },
  {
    method: 'post',
    path: '/api/v2/events',
    access: 'service',
    tag: 'events',
    summary: `An event of a subscribed type (${events.SUBSCRIBED_TYPES.join(', ')})`,
    body: { schema: (limits) => events.incomingEventFor(limits.ingestAllowedHosts), content: 'application/cloudevents+json' },
    // An ingest reserves its new asset for its owner when it is accepted.
    responses: { 202: { description: 'work started (once per event id)', schema: r.eventAccepted }, 507: overQuota },
  },
  ...SIGNED_URL_ROUTES,
  ...BACKUP_ROUTES,
  ...LIFECYCLE_ROUTES,
  ...TUS_ROUTES,
  ...QUOTA_ROUTES,
  ...AUDIT_ROUTES,
];

function jsonSchema(schema: z.ZodType, io: 'input' | 'output') {
  return z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' });
}

function parameters(where: 'path' | 'query', schema?: z.ZodObject) {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, object>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: s,
  }));
}

export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:(\w+)/g, '{$1}');
}

/** `get /api/v2/uploads/:id/parts/:n` is getUploadsByIdPartsByN: one per route, stable as long as the route is. */
export function operationIdOf(route: Pick<RouteDoc, 'method' | 'path'>): string {
  const words = route.path
    .replace(/^\/api\/v2\//, '/')
    .split(/[/.]/)
    .filter(Boolean)
    .map((segment) => (segment.startsWith(':') ? `By${capitalize(segment.slice(1))}` : capitalize(segment)));
  return route.method + words.join('');
}

function capitalize(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/** An answer's links: to each operation at or under the resource, with the parameters its path takes. */
function linksOf(links: LinkDoc[], routes: RouteDoc[]) {
  const out: Record<string, { operationId: string; parameters: Record<string, string> }> = {};
  for (const link of links) {
    for (const target of routes) {
      if (target.path !== link.resource && !target.path.startsWith(`${link.resource}/`)) continue;
      const taken = [...target.path.matchAll(/:(\w+)/g)].map((m) => m[1]).filter((name) => name in link.parameters);
      const operationId = operationIdOf(target);
      out[operationId] = { operationId, parameters: Object.fromEntries(taken.map((name) => [name, link.parameters[name]])) };
    }
  }
  return out;
}

/** A public operation takes no token; any other, a bearer JWT (`x-access` says whose). */
function securityOf(access: Access) {
  return access === 'anyone' ? { security: [] } : { security: [{ bearer: [] }], 'x-access': access };
}

export function buildOpenApiDocument(limits: DocumentLimits, allRoutes: RouteDoc[] = ROUTES) {
  // The tus routes are served but left out: their requests and answers are headers the document
  // cannot state (api/schemas/tusRoutes.ts says why).
  const routes = allRoutes.filter((route) => route.undocumented === undefined);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      responses[status] = {
        description: answer.description,
        ...(answer.schema ? { content: { [answer.content ?? 'application/json']: { schema: jsonSchema(answer.schema, 'output') } } } : {}),
        ...(answer.links ? { links: linksOf(answer.links, routes) } : {}),
        ...(answer.headers || limits.rateLimits ? { headers: { ...answer.headers, ...(limits.rateLimits ? RATE_LIMIT_HEADERS : {}) } } : {}),
      };
    }
    const problemContent = { 'application/problem+json': { schema: jsonSchema(r.problem, 'output') } };
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
      parameters: [...parameters('path', route.params), ...parameters('query', route.query)],
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
