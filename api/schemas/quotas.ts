import { z } from 'zod';
import type { RouteDoc } from '../http/route';
import { ownerId } from './common';
import { problemAnswer } from './responses';

const limit = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** PUT /quotas/{owner_id}: the owner's limits; null or absent keeps the default (STORAGE_QUOTA_*_PER_OWNER). */
export const quotaOverrideBody = z
  .object({
    bytes: limit.nullable().optional().describe('bytes stored and reserved; null or absent: the default'),
    assets: limit.nullable().optional().describe('assets, soft-deleted ones included; null or absent: the default'),
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
  .strict();

export const QUOTA_ROUTES: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/v2/usage',
    access: 'caller',
    tag: 'quotas',
    summary: "What an owner stores and has reserved, and their quota: the caller's own, or (admins) any owner's",
    query: usageQuery,
    responses: { 200: { description: 'the usage', schema: usageAnswer }, 403: problemAnswer("another owner's usage, asked by someone not an admin") },
  },
  {
    method: 'put',
    path: '/api/v2/quotas/:owner_id',
    access: 'admin',
    tag: 'quotas',
    summary: "Set an owner's quota, overriding STORAGE_QUOTA_BYTES_PER_OWNER / STORAGE_QUOTA_ASSETS_PER_OWNER",
    params: quotaParams,
    body: { schema: quotaOverrideBody },
    responses: { 200: { description: "the owner's usage under the new quota", schema: usageAnswer } },
  },
];
