/**
 * The shapes of the answers, for the OpenAPI document (api/openapi.ts). The end-to-end tests check
 * every JSON answer they receive against the document, so these stay true to what is sent.
 */
import { z } from 'zod';
import type { Answer } from '../http/route';
import type { ProblemKindName } from '../http/problemTypes';
import { uuid } from './common';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, operationFields } from './operations';

const timestamp = z.string().datetime({ offset: true });
const nullableTimestamp = timestamp.nullable();
const id = uuid;
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** What every problem carries (RFC 9457); each type's schema adds its own fields (api/openapi.ts). */
export const problemFields = z.object({
  type: z.string().describe('the kind of problem: a path on this server, its page (GET /problems lists them)'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().describe('this occurrence, in words'),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).describe('the fields at fault, each by its path'),
  instance: z.string().optional().describe("the request's path"),
});

/** Any problem, whatever its type: the document's `default` answer. */
export const problem = problemFields.catchall(z.unknown());

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
export const problemAnswer = (description: string, problems?: ProblemKindName[]): Answer => ({
  description,
  schema: problem,
  content: 'application/problem+json',
  ...(problems ? { problems } : {}),
});

const CONTRADICTED_TYPE = 'an image type the bytes contradict (declared_type and detected_type name both): nothing was stored';

/** An upload's 415: its bytes contradict the image type it declared (lib/uploads/contentType.ts); `refusedBody`, when its body's own media type may be refused too. */
export const contentTypeMismatchAnswer = (refusedBody?: string): Answer =>
  refusedBody
    ? problemAnswer(`${refusedBody}; or ${CONTRADICTED_TYPE}`, ['unsupported-media-type', 'content-type-mismatch'])
    : problemAnswer(CONTRADICTED_TYPE, ['content-type-mismatch']);

/** The revision an answer's resource is at, for If-Match and If-None-Match. */
export const etagHeader: Answer['headers'] = {
  ETag: {
    required: true,
    description: 'the revision of the resource: send it as If-Match to change it only if nobody changed it meanwhile',
    schema: { type: 'string' },
  },
};

/** Where what a creation made (or a start began) is. */
export const locationHeader = (description: string): Answer['headers'] => ({
  Location: { required: true, description, schema: { type: 'string', format: 'uri-reference' } },
});

/** What a content route reads of a request (api/http/download.ts, api/http/contentRedirect.ts). */
export const contentRequestHeaders = {
  Range: {
    description: 'one `bytes=first-last`, `first-` or `-suffix` range: 206 with it, 416 past the end; several ranges, or anything else, get the whole content',
    schema: { type: 'string', examples: ['bytes=0-1023'] },
  },
  'If-Range': {
    description: 'an ETag: Range applies only while the content still has it (else the whole content)',
    schema: { type: 'string', examples: ['"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"'] },
  },
  'If-None-Match': {
    description: 'ETags of copies the client holds: 304 when it still has one of them',
    schema: { type: 'string', examples: ['"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"'] },
  },
  'If-Modified-Since': {
    description: 'an HTTP date: 304 when the content did not change since (If-None-Match wins when both come)',
    schema: { type: 'string', examples: ['Tue, 01 Dec 2026 18:00:00 GMT'] },
  },
};

export const grant = z
  .object({ subject: z.string(), access: z.enum(['read', 'write']) })
  .strict()
  .meta({ id: 'Grant', examples: [{ subject: 'group:campaign-42', access: 'read' }] });
export const grantList = z
  .object({ grants: z.array(grant) })
  .strict()
  .meta({ id: 'GrantList' });

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
  .strict()
  .meta({
    id: 'Asset',
    examples: [
      {
        id: '0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10',
        name: 'portrait.png',
        content_type: 'image/png',
        size_bytes: 48213,
        checksum_sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
        current_version_id: '0190c6d2-8a01-7b22-9c33-4d5e6f708192',
        version_count: 1,
        metadata: { character: 'Elowen' },
        tags: ['portrait'],
        owner_id: 'alice',
        grants: [{ subject: 'group:campaign-42', access: 'read' }],
        is_deleted: false,
        deleted_at: null,
        created_at: '2026-12-07T14:00:00.000Z',
        updated_at: '2026-12-07T14:00:00.000Z',
      },
    ],
  });

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
    uploaded_by: z.string().nullable().describe('who uploaded it (their sub); null: not known (a version made before this was recorded)'),
    damaged_at: timestamp
      .nullable()
      .describe('null normally; set when a scrub found its bytes missing or wrong and no backup held them: its content then answers version-damaged (409)'),
    damage: z.string().nullable().describe('what the scrub found, while damaged_at is set'),
  })
  .strict()
  .meta({
    id: 'Version',
    examples: [
      {
        id: '0190c6d2-8a01-7b22-9c33-4d5e6f708192',
        asset_id: '0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10',
        version_number: 1,
        size_bytes: 48213,
        content_type: 'image/png',
        checksum_sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
        is_current: true,
        created_at: '2026-12-07T14:00:00.000Z',
        uploaded_by: 'alice',
        damaged_at: null,
        damage: null,
      },
    ],
  });

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
  .strict()
  .meta({
    id: 'UploadSession',
    examples: [
      {
        id: '0190c6d2-6b00-7a11-8b22-3c4d5e6f7081',
        status: 'open',
        name: 'map.pdf',
        content_type: 'application/pdf',
        size_bytes: 20971520,
        checksum_sha256: null,
        part_size_bytes: 8388608,
        part_count: 3,
        parts_received: [1],
        bytes_received: 8388608,
        asset_id: null,
        version_id: null,
        expires_at: '2026-12-08T14:00:00.000Z',
        workflow_id: 'upload-0190c6d2-6b00-7a11-8b22-3c4d5e6f7081',
        error: null,
      },
    ],
  });

export const uploadAccepted = z
  .object({ upload_id: id, status_url: z.string(), ...operationFields })
  .strict()
  .meta({
    id: 'UploadAccepted',
    examples: [{ upload_id: '0190c6d2-6b00-7a11-8b22-3c4d5e6f7081', status_url: '/api/v2/uploads/0190c6d2-6b00-7a11-8b22-3c4d5e6f7081' }],
  });
export const workflowAccepted = z
  .object({ workflow_id: z.string(), ...operationFields })
  .strict()
  .meta({ id: 'WorkflowAccepted' });
export const partStored = z.object({ part_number: z.number().int(), size_bytes: z.number().int(), checksum_sha256: sha256 }).strict();
export const presignedPart = z.object({ url: z.string().url(), method: z.literal('PUT'), expires_at: timestamp }).strict();
export const completedUpload = z.object({ upload: uploadSession, asset, version }).strict();

/** A page of a list; `<Item>Page` in the document when the item has an id. */
export function pageOf(item: z.ZodType) {
  const page = z.object({ items: z.array(item), next_cursor: z.string().nullable() }).strict();
  const itemId = z.globalRegistry.get(item)?.id;
  return itemId ? page.meta({ id: `${itemId}Page` }) : page;
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
const restoreDrills = z
  .object({
    status: z.enum(['ok', 'unproven']),
    period_hours: z.number().int().describe('STORAGE_RESTORE_DRILL_PERIOD_HOURS, the period the drill schedule should match'),
    last_verified_restore_at: timestamp.nullable().describe('when a restore drill last proved a backup restorable'),
    reason: z.string().optional(),
  })
  .strict()
  .describe(
    'with backups enabled: unproven (and /health degraded) when a completed backup is older than the drill period and no restore drill proved one within twice it',
  );
const down = z.array(z.enum(['database', 'object_store', 'temporal', 'redis'])).describe('the dependencies that did not answer');
export const health = z
  .object({ status: z.enum(['ok', 'degraded', 'down']), down, checks, backup_retention: backupRetention.optional(), restore_drills: restoreDrills.optional() })
  .strict();
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
  .strict()
  .meta({ id: 'CloudEvent' });
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

/** The headers of the stored content's 200, 206 and 304 (api/http/download.ts). */
export const contentHeaders: Answer['headers'] = {
  ...servedContentHeaders,
  ETag: { required: true, description: "the content's revision: for If-None-Match and If-Range", schema: { type: 'string' } },
  'Last-Modified': { required: true, description: 'when the content was stored: for If-Modified-Since', schema: { type: 'string' } },
  'Accept-Ranges': { required: true, description: 'bytes: Range is served', schema: { type: 'string', const: 'bytes' } },
  'Cache-Control': {
    required: true,
    description: 'private, no-cache: a cache asks again with If-None-Match',
    schema: { type: 'string', const: 'private, no-cache' },
  },
};
const rangeHeaders: Answer['headers'] = {
  ...contentHeaders,
  'Content-Range': { required: true, description: '`bytes first-last/size`: the range sent', schema: { type: 'string', examples: ['bytes 0-1023/48213'] } },
};

/** The stored bytes, in their own media type (the asset's content_type, as shown: api/http/contentPresentation.ts). */
const ANY_MEDIA = '*/*';

/** What a content route answers: the bytes, a range, 304, a redirect to the store, or 416. */
export const contentAnswers = {
  200: { description: "the bytes, in the asset's own Content-Type", content: ANY_MEDIA, headers: contentHeaders },
  206: { description: 'a range', content: ANY_MEDIA, headers: rangeHeaders },
  304: { description: 'not modified', headers: contentHeaders },
  307: redirectedToStore,
  409: problemAnswer('the version is damaged (a scrub found its bytes wrong and no backup held them): restore it from a backup or upload it again', [
    'version-damaged',
  ]),
  416: problemAnswer('range past the end'),
} as const;
