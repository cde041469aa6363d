/** What the tus protocol's headers carry, as this API takes them (https://tus.io/protocols/resumable-upload). */
import { z } from 'zod';
import { ValidationError } from '../../lib/platform/errors';
import { assetName, contentType, metadataObject, parse, sha256Hex, tagList, uuid } from './common';

export const TUS_PATH = '/api/v2/tus';
export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = ['creation', 'creation-with-upload', 'termination', 'expiration', 'checksum'];
export const TUS_CHECKSUM_ALGORITHMS = ['sha256'];
/** The headers a browser must be allowed to send, and to read, for a tus client to work across origins. */
export const TUS_REQUEST_HEADERS = [
  'Tus-Resumable',
  'Upload-Length',
  'Upload-Offset',
  'Upload-Metadata',
  'Upload-Checksum',
  'Upload-Defer-Length',
  'Upload-Concat',
];
export const TUS_RESPONSE_HEADERS = [
  'Tus-Resumable',
  'Tus-Version',
  'Tus-Max-Size',
  'Tus-Extension',
  'Tus-Checksum-Algorithm',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Expires',
];
export const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

const byteCount = (header: string) =>
  z
    .string({ error: `${header} is required` })
    .regex(/^\d{1,15}$/, `${header} must be a whole number of bytes`)
    .transform(Number);

export const creationHeaders = z.object({
  'upload-length': byteCount('Upload-Length'),
  'upload-metadata': z.string().optional(),
});

export const patchHeaders = z.object({
  'upload-offset': byteCount('Upload-Offset'),
  'content-length': byteCount('Content-Length'),
  'upload-checksum': z
    .string()
    .regex(/^sha256 [A-Za-z0-9+/]{43}=$/, 'Upload-Checksum must be "sha256 <base64 of the SHA-256 of the body>": sha256 is the one algorithm served')
    .transform((value) => value.slice('sha256 '.length))
    .optional(),
});

const jsonText = z.string().transform((text, ctx) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be JSON' });
    return z.NEVER;
  }
});

/**
 * Upload-Metadata's keys that mean something here; others (Uppy sends `name`, `type`,
 * `relativePath`) are kept for HEAD but not used. `metadata` is a JSON object of strings, `tags` a
 * JSON array of strings, as in a chunked session's body.
 */
const uploadMetadata = z.object({
  filename: assetName,
  // A browser's File.type is empty for a type it does not know.
  filetype: z.preprocess((value) => (value === '' ? undefined : value), contentType.optional()),
  asset_id: uuid.optional(),
  checksum_sha256: sha256Hex.optional(),
  metadata: jsonText.pipe(metadataObject).optional(),
  tags: jsonText.pipe(tagList).optional(),
});
export type UploadMetadata = z.infer<typeof uploadMetadata>;

/** Upload-Metadata: comma-separated `key base64(value)` pairs, a value optional, each key once. */
export function parseUploadMetadata(header: string | undefined): UploadMetadata {
  const pairs: Record<string, string> = {};
  for (const pair of (header ?? '').split(',').map((p) => p.trim())) {
    if (!pair) continue;
    const [key, value, ...rest] = pair.split(' ');
    if (rest.length > 0 || !/^[!-+--~]+$/.test(key) || (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))) {
      throw new ValidationError('Upload-Metadata must be comma-separated "key base64value" pairs', [{ path: 'upload-metadata', message: `bad pair ${key}` }]);
    }
    if (key in pairs) throw new ValidationError(`Upload-Metadata names ${key} twice`, [{ path: `upload-metadata.${key}`, message: 'repeated' }]);
    pairs[key] = Buffer.from(value ?? '', 'base64').toString('utf8');
  }
  return parse(uploadMetadata, pairs, 'upload-metadata');
}

// ---------------------------------------------------------------------------------------------
// The headers and answers as the OpenAPI document states them (api/routes/tus.ts).

const header = (description: string, schema: Record<string, unknown>, required = true) => ({ required, description, schema });
const bytes = (example: string) => ({ type: 'string', pattern: '^\\d{1,15}$', examples: [example] });

const TUS_HEADERS = {
  'Tus-Resumable': header('the protocol version: 1.0.0 alone is served (412 otherwise)', { type: 'string', const: TUS_VERSION }),
  'Upload-Length': header("the upload's size in bytes, fixed at creation (Upload-Defer-Length is not served)", bytes('73400320')),
  'Upload-Offset': header("the offset the body starts at: the upload's offset, as HEAD reports it (409 otherwise)", bytes('8388608')),
  'Upload-Metadata': header(
    'comma-separated `key base64(value)` pairs: filename (required), filetype, asset_id (a new version of that asset), checksum_sha256 (hex, of the whole file), metadata (a JSON object of strings), tags (a JSON array of strings); other keys are kept for HEAD',
    // filename portrait.png, filetype image/png
    { type: 'string', examples: ['filename cG9ydHJhaXQucG5n,filetype aW1hZ2UvcG5n'] },
  ),
  'Upload-Checksum': header('`sha256 <base64 of the SHA-256 of the body>`: a body that does not match is 460 and none of it is kept', {
    type: 'string',
    pattern: '^sha256 [A-Za-z0-9+/]{43}=$',
    examples: ['sha256 n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg='],
  }),
  'Upload-Expires': header(
    'when an upload left unfinished is deleted (RFC 9110 date): while open, the earlier of its expiry and its last PATCH plus STORAGE_RESUMABLE_STALL_SECONDS',
    { type: 'string', examples: ['Tue, 01 Dec 2026 19:00:00 GMT'] },
  ),
  'Tus-Version': header('the protocol versions served', { type: 'string', const: TUS_VERSION }),
  'Tus-Max-Size': header('the largest Upload-Length taken (STORAGE_MAX_UPLOAD_SIZE)', bytes('5368709120')),
  'Tus-Extension': header('the extensions served', { type: 'string', const: TUS_EXTENSIONS.join(',') }),
  'Tus-Checksum-Algorithm': header('the checksum algorithms of Upload-Checksum', { type: 'string', const: TUS_CHECKSUM_ALGORITHMS.join(',') }),
  Location: header('the upload, for HEAD, PATCH and DELETE', { type: 'string', examples: [`${TUS_PATH}/0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10`] }),
  Allow: header('the methods of the path', { type: 'string', examples: ['OPTIONS, POST'] }),
  'Cache-Control': header('no-store: an offset is stale at once', { type: 'string', const: 'no-store' }),
};

/** Headers of an answer or a request: some of TUS_HEADERS, optional where said. */
export function tusHeaders(names: Array<keyof typeof TUS_HEADERS>, optional: Array<keyof typeof TUS_HEADERS> = []) {
  return Object.fromEntries([...names.map((name) => [name, TUS_HEADERS[name]]), ...optional.map((name) => [name, { ...TUS_HEADERS[name], required: false }])]);
}

/** GET /tus/{id}: HEAD's headers, as JSON. */
export const tusStatusAnswer = z
  .object({
    upload_id: uuid,
    status: z.enum(['open', 'completing', 'completed']),
    offset_bytes: z.number().int().min(0),
    size_bytes: z.number().int().min(0),
    status_url: z.string().describe('the session, as /api/v2/uploads/{id} reports it'),
  })
  .strict();
