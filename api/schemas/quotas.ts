import { z } from 'zod';
import { ownerId } from './common';

const limit = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .meta({ examples: [1073741824] });

/** PUT /quotas/{owner_id}: the owner's limits; null or absent keeps the default (STORAGE_QUOTA_*_PER_OWNER). */
export const quotaOverrideBody = z
  .object({
    bytes: limit.nullable().optional().describe('bytes stored and reserved; null or absent: the default'),
    assets: limit.nullable().optional().describe('assets, soft-deleted ones included; null or absent: the default'),
  })
  .strict();

/** PATCH /quotas/{owner_id} (application/merge-patch+json): a limit given replaces the override's, null goes back to the default, one left out stays. */
export const quotaPatchBody = z
  .object({
    bytes: limit.nullable().optional().describe('bytes stored and reserved; null: the default; absent: unchanged'),
    assets: limit.nullable().optional().describe('assets, soft-deleted ones included; null: the default; absent: unchanged'),
  })
  .strict();

export const quotaParams = z.object({ owner_id: ownerId });

export const usageQuery = z.object({ owner_id: ownerId.optional().describe("admins: another owner's usage (default: the caller's)") }).strict();

const count = z.number().int().min(0);

export const usageAnswer = z
  .object({
    owner_id: z.string(),
    bytes_stored: count.describe("every version's bytes, soft-deleted assets' included until they are purged"),
    assets: count,
    versions: count,
    reserved_bytes: count.describe('held by open upload sessions'),
    quota: z.object({ bytes: count.nullable(), assets: count.nullable() }).strict().describe('the limits in force; null is unlimited'),
  })
  .strict()
  .meta({
    id: 'Usage',
    examples: [{ owner_id: 'alice', bytes_stored: 73400320, assets: 14, versions: 21, reserved_bytes: 0, quota: { bytes: 1073741824, assets: null } }],
  });

/** GET /quotas/{owner_id}: the owner's override and the limits in force. */
export const quotaAnswer = z
  .object({
    owner_id: z.string(),
    bytes: count.nullable().describe("the override's bytes limit; null: the default (STORAGE_QUOTA_BYTES_PER_OWNER)"),
    assets: count.nullable().describe("the override's assets limit; null: the default (STORAGE_QUOTA_ASSETS_PER_OWNER)"),
    quota: z.object({ bytes: count.nullable(), assets: count.nullable() }).strict().describe('the limits in force; null is unlimited'),
  })
  .strict();
