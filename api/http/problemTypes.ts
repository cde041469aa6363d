/**
 * The kinds of problem the API answers (RFC 9457): each a `type` URI, `/problems/<kind>` on this
 * server (a page of its own there, api/routes/problems.ts), a status, a title, and the fields it
 * carries beside title, status, detail, instance and errors. api/http/problem.ts answers with them;
 * api/openapi.ts documents each as a schema of components.schemas.
 */
import { z } from 'zod';

export interface ProblemKind {
  status: number;
  title: string;
  /** What it means and what to do, for its page and its schema. */
  description: string;
  /** Its fields beside the common ones, each optional unless the kind always carries it. */
  fields?: Record<string, z.ZodType>;
}

const uploadId = z.string().describe('the upload session it concerns: GET /api/v2/uploads/{upload_id} says how it ended');

const KINDS = {
  validation: {
    status: 400,
    title: 'Bad Request',
    description:
      'The request breaks a rule: a parameter, header or body field is missing, malformed or out of range, or the body is not well-formed. ' +
      '`errors` names each field (`path`) and what is wrong with it. Fix the request; sending it again as it is fails again.',
  },
  unauthorized: {
    status: 401,
    title: 'Unauthorized',
    description:
      'No bearer token, or one that does not verify (signature, issuer, audience, expiry): WWW-Authenticate and the detail say which check failed. Get a new token and try again.',
  },
  forbidden: {
    status: 403,
    title: 'Forbidden',
    description:
      'The token verifies but may not do this: not the owner, no grant that allows it, or a role the operation needs. ' +
      'An upload whose access was revoked meanwhile names it in `upload_id`. Sending it again with the same token fails again.',
    fields: { upload_id: uploadId.optional() },
  },
  'signed-url-refused': {
    status: 403,
    title: 'Forbidden',
    description: 'A signed URL whose signature does not verify, or that has expired: ask for a new one (POST /api/v2/assets/{id}/signed-url).',
  },
  'not-found': {
    status: 404,
    title: 'Not Found',
    description: 'Nothing at this path that the caller may see: an unknown id, a soft-deleted asset (see include_deleted), or no such route.',
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method Not Allowed',
    description: 'The path exists but does not serve this method: Allow lists those it serves.',
  },
  conflict: {
    status: 409,
    title: 'Conflict',
    description:
      'The request clashes with the state of what it names (already done, not in a state that allows it, or a request under the same Idempotency-Key still running: ' +
      'then Retry-After says when to send it again). Read the resource again and decide; an upload it concerns is named in `upload_id`.',
    fields: {
      upload_id: uploadId.optional(),
      operation_id: z.string().optional().describe('the operation a cancel named (GET /api/v2/operations/{operation_id})'),
      operation_status: z.string().optional().describe('how that operation ended, when it has'),
    },
  },
  'missing-parts': {
    status: 409,
    title: 'Conflict',
    description: 'A chunked upload was completed before all of its parts arrived: `missing_parts` lists their numbers. Send them, then complete again.',
    fields: { missing_parts: z.array(z.number().int().min(1)).describe('the numbers of the parts not received') },
  },
  'version-damaged': {
    status: 409,
    title: 'Version Damaged',
    description:
      'The bytes of this version are damaged: a scrub found its object missing or not what its SHA-256 says, and no backup held them. ' +
      'Nothing is served rather than wrong bytes. Restore the asset from a backup that holds the version (POST /api/v2/backups/{id}/restore), or upload it again.',
    fields: {
      asset_id: z.string().describe('the asset'),
      version_id: z.string().describe('the damaged version'),
      damaged_at: z.string().describe('when the scrub found it'),
    },
  },
  gone: {
    status: 410,
    title: 'Gone',
    description: 'The upload was terminated, expired or failed: its bytes are gone for good. Start a new upload.',
  },
  'request-timeout': {
    status: 408,
    title: 'Request Timeout',
    description:
      "The request did not arrive whole within the server's request timeout: send it again, on a faster connection or in smaller pieces (a chunked or tus upload).",
  },
  'precondition-failed': {
    status: 412,
    title: 'Precondition Failed',
    description:
      'If-Match names a revision (ETag) the resource no longer has: someone changed it since you read it, and nothing was changed now. Read it again (a new ETag), re-apply your change, and send it with the new ETag. ' +
      'On a route that creates something new, any If-Match fails (what it would name does not exist yet); If-None-Match: * is the precondition a create takes.',
  },
  'precondition-required': {
    status: 428,
    title: 'Precondition Required',
    description:
      'This server requires If-Match on every change of an existing resource (STORAGE_REQUIRE_IF_MATCH), and the request sent none: nothing was changed. Read the resource (its ETag) and send the change with If-Match.',
  },
  'tus-version-unsupported': {
    status: 412,
    title: 'Precondition Failed',
    description: 'A tus request without `Tus-Resumable: 1.0.0`, the one version this server speaks (Tus-Version says so).',
  },
  'payload-too-large': {
    status: 413,
    title: 'Payload Too Large',
    description:
      'The body is larger than the API takes: the upload size limit (STORAGE_MAX_UPLOAD_SIZE), or the JSON body limit. Send less, or a chunked or tus upload.',
  },
  'unsupported-media-type': {
    status: 415,
    title: 'Unsupported Media Type',
    description: 'The body is not of the media type the operation takes (JSON, multipart/form-data, application/offset+octet-stream): see its requestBody.',
  },
  'content-type-mismatch': {
    status: 415,
    title: 'Unsupported Media Type',
    description:
      'The upload declared an image type its bytes contradict (image/png for a JPEG, image/* for a PDF, an archive or a program): `declared_type` and `detected_type` name both. ' +
      'Nothing was stored: send it again with the type of its bytes, or without one (the server then reads it from the bytes). An upload it ended is named in `upload_id`.',
    fields: {
      declared_type: z.string().describe('the content type the upload was sent with'),
      detected_type: z.string().describe('what the first bytes of the file are'),
      upload_id: uploadId.optional(),
    },
  },
  'range-not-satisfiable': {
    status: 416,
    title: 'Range Not Satisfiable',
    description: 'The Range selects no byte of the content: Content-Range (`bytes */<size>`) gives its size.',
  },
  unprocessable: {
    status: 422,
    title: 'Unprocessable Content',
    description:
      'Well-formed input whose content is wrong: a checksum or size that does not match the bytes, data refused, or an Idempotency-Key sent before with another request. ' +
      'An upload it ended is named in `upload_id`.',
    fields: { upload_id: uploadId.optional() },
  },
  locked: {
    status: 423,
    title: 'Locked',
    description: 'Another request holds the thing (a tus upload whose lock was lost while the body streamed): send HEAD for the offset, then try again.',
  },
  'headers-too-large': {
    status: 431,
    title: 'Request Header Fields Too Large',
    description: "The request's headers are larger than the server reads (Node's 16 KiB): send fewer or shorter ones (a smaller token, fewer cookies).",
  },
  'rate-limited': {
    status: 429,
    title: 'Too Many Requests',
    description:
      'The caller spent a rate-limit budget (`policy` names it): Retry-After says when it is whole again; RateLimit and RateLimit-Policy say what is left.',
    fields: { policy: z.string().describe('the budget spent: reads, writes or content') },
  },
  'checksum-mismatch': {
    status: 460,
    title: 'Checksum Mismatch',
    description: 'The bytes of a tus PATCH do not hash to its Upload-Checksum: none of them was kept, and the offset is as it was. Send them again.',
  },
  internal: {
    status: 500,
    title: 'Internal Server Error',
    description:
      'The server failed to carry out the request, or work it took on failed for a reason no client can fix; it has been logged (quote X-Request-Id). An upload it ended is named in `upload_id`.',
    fields: { upload_id: uploadId.optional() },
  },
  'not-implemented': {
    status: 501,
    title: 'Not Implemented',
    description: 'This server is not configured for it: URL signing asked of a service given no signing key (STORAGE_URL_SIGNING_KEYS).',
  },
  unavailable: {
    status: 503,
    title: 'Service Unavailable',
    description:
      'Not now: a dependency cannot be reached (`dependency`), the service is overloaded, or no worker took the work yet. Retry-After says when to try again. ' +
      'An upload still finishing is named in `upload_id`, with `status_url` to follow.',
    fields: {
      dependency: z.enum(['database', 'object_store', 'temporal']).optional().describe('the dependency that cannot be reached'),
      upload_id: uploadId.optional(),
      status_url: z.string().optional().describe('where to follow the upload'),
    },
  },
  'quota-exceeded': {
    status: 507,
    title: 'Insufficient Storage',
    description:
      "The change would pass the owner's quota. `quota` says which (bytes or assets), `requested` how much more was asked; the owner and admins also see `usage` and `limit`. " +
      'Free space (delete versions or assets) or ask an admin for a larger quota (PUT /api/v2/quotas/{owner_id}).',
    fields: {
      owner_id: z.string(),
      quota: z.enum(['bytes', 'assets']),
      requested: z.number().int(),
      usage: z.number().int().optional().describe('for the owner and admins only'),
      limit: z.number().int().optional().describe('for the owner and admins only'),
    },
  },
} satisfies Record<string, ProblemKind>;

export type ProblemKindName = keyof typeof KINDS;

export const PROBLEM_KINDS: Record<ProblemKindName, ProblemKind> = KINDS;

export const PROBLEM_BASE_PATH = '/problems';

/** A kind's `type` URI: a path on this server, its page. */
export const problemTypeOf = (kind: ProblemKindName): string => `${PROBLEM_BASE_PATH}/${kind}`;

export const problemKindNames = Object.keys(PROBLEM_KINDS) as ProblemKindName[];

/** The kind a status gets when nothing more specific is known (sendProblem's callers, a route's declared problem answer). */
export function defaultKindOf(status: number): ProblemKindName {
  const first = problemKindNames.find((kind) => PROBLEM_KINDS[kind].status === status);
  if (first) return first;
  return status >= 500 ? 'internal' : 'validation';
}
