/** What the tus protocol's headers carry, as this API takes them (https://tus.io/protocols/resumable-upload). */
import { z } from 'zod';
import { ValidationError } from '../../lib/platform/errors';
import { assetName, contentType, metadataObject, parse, sha256Hex, tagList, uuid } from './common';

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
