import { z } from 'zod';
import { assetName, contentType, metadataObject, ownerId, pageQuery, sha256Hex, tagList, uuid } from './common';

const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;

const sizeBytes = z
  .number()
  .int()
  .nonnegative()
  .meta({ examples: [73400320] });

export const createUploadBody = z
  .object({
    name: assetName,
    size_bytes: sizeBytes,
    content_type: contentType.optional(),
    checksum_sha256: sha256Hex.optional(),
    asset_id: uuid.optional(),
    part_size_bytes: z
      .number()
      .int()
      .min(MIN_PART_SIZE, `must be at least ${MIN_PART_SIZE} bytes (5 MiB)`)
      .max(MAX_PART_SIZE, `must be at most ${MAX_PART_SIZE} bytes (5 GiB)`)
      .meta({ examples: [16 * MiB] })
      .default(8 * MiB),
    metadata: metadataObject.optional(),
    tags: tagList.optional(),
    owner_id: ownerId.optional(),
  })
  .strict();

/**
 * The body as the document states it, with the configured STORAGE_MAX_UPLOAD_SIZE as the largest
 * size_bytes. The handler checks that limit itself: over it is a 413, as the contract says, not a 400.
 */
export function documentedCreateUploadBody(maxSizeBytes: number) {
  // A new version belongs to its asset: owner_id names the owner of a new asset only.
  return createUploadBody.extend({ size_bytes: sizeBytes.max(maxSizeBytes) }).meta({ not: { required: ['asset_id', 'owner_id'] } });
}

/** GET /uploads: the caller's sessions; a service or an admin names an owner, or sees every one. */
export const listUploadsQuery = z
  .object({
    ...pageQuery,
    owner_id: ownerId.optional().describe("services and admins: one owner's sessions (default: every owner's); others: only their own sub"),
    status: z
      .enum(['open', 'completing', 'completed', 'failed', 'aborted', 'expired'])
      .optional()
      .describe('sessions of this status only, as their rows record it'),
  })
  .strict();

export const partParams = z.object({
  id: uuid,
  n: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'part numbers start at 1')
    .max(MAX_PARTS, `must be at most ${MAX_PARTS}`)
    .meta({ examples: [1] })
    .describe(`1 to the session's part_count (at most ${MAX_PARTS})`),
});

export const partHeaders = z.object({
  // A missing header coerces to NaN: that is the case the message is for.
  'content-length': z.coerce.number({ error: 'Content-Length is required' }).int().nonnegative(),
  'x-checksum-sha256': sha256Hex.optional(),
});
