/**
 * The shapes of the answers, for the OpenAPI document (api/openapi.ts). The end-to-end tests check
 * every JSON answer they receive against the document, so these stay true to what is sent.
 */
import { z } from 'zod';
import type { Answer } from '../http/route';
import { uuid } from './common';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, operationFields } from './operations';

const timestamp = z.string().datetime({ offset: true });
const nullableTimestamp = timestamp.nullable();
const id = uuid;
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })),
    instance: z.string().optional(),
  })
  .catchall(z.unknown());

/** A content route's 307 (api/http/contentRedirect.ts). */
export const redirectedToStore: Answer = {
  description:
    'a presigned GET of the object store, for ?redirect=true or an object of at least STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES: ' +
    "send Range there, not the token; it serves the same Content-Type and Content-Disposition, with the store's own ETag",
  headers: {
    Location: {
      required: true,
      description: 'the presigned URL, valid for STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS',
      schema: { type: 'string', format: 'uri' },
    },
    'Cache-Control': { required: true, description: 'private, no-store: the URL expires', schema: { type: 'string', const: 'private, no-store' } },
    'X-Content-Type-Options': { required: true, description: 'nosniff', schema: { type: 'string', const: 'nosniff' } },
  },
};

/** The headers that keep stored bytes from running script on the API's origin (api/http/contentPresentation.ts). */
export const servedContentHeaders: Answer['headers'] = {
  'Content-Disposition': {
    required: true,
    description: 'inline for raster images, plain text, audio and video; attachment for every other type (HTML, SVG, XML, PDF, ...), whatever was asked',
    schema: { type: 'string' },
  },
  'X-Content-Type-Options': { required: true, description: 'nosniff', schema: { type: 'string', const: 'nosniff' } },
  'Content-Security-Policy': {
    required: true,
    description: "sandbox; an attachment also default-src 'none'",
    schema: { type: 'string', enum: ['sandbox', "default-src 'none'; sandbox"] },
  },
};

/** A route's problem+json answer, as the route declarations document it. */
export const problemAnswer = (description: string) => ({ description, schema: problem, content: 'application/problem+json' });

export const grant = z.object({ subject: z.string(), access: z.enum(['read', 'write']) }).strict();
export const grantList = z.object({ grants: z.array(grant) }).strict();

export const asset = z
  .object({
    id,
    name: z.string(),
    content_type: z.string(),
    size_bytes: z.number().int(),
    checksum_sha256: sha256.nullable(),
    current_version_id: id.nullable(),
    version_count: z.number().int(),
    metadata: z.record(z.string(), z.string()),
    tags: z.array(z.string()),
    owner_id: z.string(),
    grants: z.array(grant).describe('all of them for the owner, a service or an admin; a grantee sees only those that name them or one of their groups'),
    is_deleted: z.boolean(),
    deleted_at: nullableTimestamp,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .strict();

export const version = z
  .object({
    id,
    asset_id: id,
    version_number: z.number().int().min(1),
    size_bytes: z.number().int(),
    content_type: z.string(),
    checksum_sha256: sha256,
    is_current: z.boolean(),
    created_at: timestamp,
  })
  .strict();

export const uploadSession = z
  .object({
    id,
    status: z.enum(['open', 'completing', 'completed', 'failed', 'aborted', 'expired']),
    name: z.string(),
    content_type: z.string(),
    size_bytes: z.number().int(),
    checksum_sha256: sha256.nullable(),
    part_size_bytes: z.number().int().nullable(),
    part_count: z.number().int().nullable(),
    parts_received: z.array(z.number().int()),
    bytes_received: z.number().int(),
    asset_id: id.nullable(),
    version_id: id.nullable(),
    expires_at: timestamp.describe(
      'while open, when the session ends unless a part arrives first: the earlier of its expiry and its last progress plus STORAGE_RESUMABLE_STALL_SECONDS (a sliding deadline)',
    ),
    workflow_id: z.string(),
    error: z.string().nullable(),
  })
  .strict();

export const uploadAccepted = z.object({ upload_id: id, status_url: z.string(), ...operationFields }).strict();
export const workflowAccepted = z.object({ workflow_id: z.string(), ...operationFields }).strict();
export const partStored = z.object({ part_number: z.number().int(), size_bytes: z.number().int(), checksum_sha256: sha256 }).strict();
export const presignedPart = z.object({ url: z.string().url(), method: z.literal('PUT'), expires_at: timestamp }).strict();
export const completedUpload = z.object({ upload: uploadSession, asset, version }).strict();

export function pageOf(item: z.ZodType) {
  return z.object({ items: z.array(item), next_cursor: z.string().nullable() }).strict();
}

const check = z.object({ status: z.enum(['ok', 'down']), latency_ms: z.number(), error: z.string().optional() }).strict();
const objectStoreCheck = check.extend({ server_side_encryption: z.enum(['AES256', 'aws:kms', 'none']) }).strict();
const checks = z.object({ database: check, object_store: objectStoreCheck, temporal: check, redis: check.optional() }).strict();
const backupRetention = z
  .object({
    status: z.enum(['ok', 'refused']),
    sweep_id: id,
    finished_at: timestamp,
    reason: z.string().optional(),
    unknown_backups: z.array(id),
  })
  .strict()
  .describe('the latest retention sweep: refused (and /health degraded) until the backups of a lost catalog are imported (docs/recovery.md)');
const down = z.array(z.enum(['database', 'object_store', 'temporal', 'redis'])).describe('the dependencies that did not answer');
export const health = z.object({ status: z.enum(['ok', 'degraded', 'down']), down, checks, backup_retention: backupRetention.optional() }).strict();
// `draining`: the API got SIGTERM and finishes what it serves; a load balancer sends it nothing new.
export const readiness = z.object({ status: z.enum(['ready', 'not_ready', 'draining']), down, checks }).strict();
export const liveness = z.object({ status: z.literal('ok') }).strict();

export const cloudEvent = z
  .object({
    specversion: z.literal('1.0'),
    id: z.string(),
    source: z.string(),
    type: z.string(),
    subject: z.string(),
    time: timestamp,
    datacontenttype: z.literal('application/json'),
    data: z.record(z.string(), z.unknown()),
    sequence: z.number().int(),
  })
  .strict();
export const eventAccepted = z.object({ id: z.string(), type: z.string(), workflow_id: z.string(), ...operationFields }).strict();

/** An upload whose finishing outlasted the wait (api/http/accepted.ts). */
export const uploadAcceptedAnswer: Answer = {
  description: 'finishing outlasted the wait (Prefer: wait=N, else STORAGE_UPLOAD_WAIT_SECONDS); follow Location, the operation (or status_url, the session)',
  schema: uploadAccepted,
  headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
  links: [{ resource: '/api/v2/uploads/:id', parameters: { id: '$response.body#/upload_id' } }],
};

/** Every route that stores bytes may be refused by its owner's quota. */
export const overQuotaAnswer = problemAnswer(
  "over the owner's quota (type ...:quota-exceeded, with quota, owner_id and requested; usage and limit for the owner and admins only)",
);

/** What a content route answers: the bytes, a range, 304, a redirect to the store, or 416. */
export const contentAnswers = {
  200: { description: 'the bytes', content: 'application/octet-stream', headers: servedContentHeaders },
  206: { description: 'a range', content: 'application/octet-stream', headers: servedContentHeaders },
  304: { description: 'not modified', headers: servedContentHeaders },
  307: redirectedToStore,
  416: problemAnswer('range past the end'),
} as const;
