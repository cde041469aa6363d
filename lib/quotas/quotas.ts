/**
 * Per-owner quotas (issue 14): the limits, the check made under the owner's usage row lock, and the
 * usage report. migrations/20261201000009_quotas.ts keeps `owner_usage` exact by triggers; every
 * check here runs after the change that needs room, in its transaction, so the trigger's row lock is
 * already held and no other upload of the same owner can slip between the check and the commit.
 */
import type { Knex } from 'knex';
import type { Config } from '../platform/config';
import { isAdmin, type Actor } from '../auth/actor';
import type { AuditTrail } from '../audit/log';
import { QuotaExceededError, type ErrorFacts } from '../platform/errors';
import { ensureIfMatch } from '../platform/etags';
import { findQuotaOverride, lockQuotaOwner, readUsageWithLimits, writeQuotaOverride } from './store';

/** The configured defaults (STORAGE_QUOTA_*_PER_OWNER); null is unlimited. */
export type QuotaDefaults = Config['quotas'];

/** An owner's limits in force; null is unlimited. */
export interface Quota {
  bytes: number | null;
  assets: number | null;
}

/** An admin's override: a null (or absent) limit keeps the default. */
export interface QuotaOverride {
  bytes?: number | null;
  assets?: number | null;
}

export interface UsageRow {
  owner_id: string;
  bytes_stored: number;
  assets: number;
  versions: number;
  reserved_bytes: number;
  reserved_assets: number;
}

export interface UsageJson {
  owner_id: string;
  bytes_stored: number;
  assets: number;
  versions: number;
  reserved_bytes: number;
  quota: Quota;
}

/** An owner's usage and the limits in force. */
async function readUsage(db: Knex | Knex.Transaction, defaults: QuotaDefaults, ownerId: string): Promise<{ usage: UsageRow; quota: Quota }> {
  const row = await readUsageWithLimits(db, ownerId);
  // An owner who never stored anything has no usage row: the outer join's nulls are zeros.
  const usage = { owner_id: ownerId } as UsageRow;
  for (const key of ['bytes_stored', 'assets', 'versions', 'reserved_bytes', 'reserved_assets'] as const) usage[key] = row[key] ?? 0;
  return { usage, quota: { bytes: row.max_bytes ?? defaults.bytesPerOwner, assets: row.max_assets ?? defaults.assetsPerOwner } };
}

export async function usageOf(db: Knex, defaults: QuotaDefaults, ownerId: string): Promise<UsageJson> {
  const { usage, quota } = await readUsage(db, defaults, ownerId);
  return {
    owner_id: ownerId,
    bytes_stored: usage.bytes_stored,
    assets: usage.assets,
    versions: usage.versions,
    reserved_bytes: usage.reserved_bytes,
    quota,
  };
}

/** The ETag of an owner's quota (its override's revision; 0 without one): changes whenever the override does. */
export function quotaEtag(revision: number): string {
  return `"q${revision}"`;
}

/** GET /quotas/{owner_id} (and a PATCH's answer): the owner's override (null: the default) and the limits in force. */
export interface QuotaJson {
  owner_id: string;
  bytes: number | null;
  assets: number | null;
  quota: Quota;
}

function quotaJsonOf(defaults: QuotaDefaults, ownerId: string, override: { max_bytes: number | null; max_assets: number | null } | undefined): QuotaJson {
  const bytes = override?.max_bytes ?? null;
  const assets = override?.max_assets ?? null;
  return { owner_id: ownerId, bytes, assets, quota: { bytes: bytes ?? defaults.bytesPerOwner, assets: assets ?? defaults.assetsPerOwner } };
}

/** GET /quotas/{owner_id}: the owner's quota, with its ETag. */
export async function quotaOf(db: Knex, defaults: QuotaDefaults, ownerId: string): Promise<{ quota: QuotaJson; etag: string }> {
  const row = await findQuotaOverride(db, ownerId);
  return { quota: quotaJsonOf(defaults, ownerId, row), etag: quotaEtag(row?.revision ?? 0) };
}

/**
 * Changes the owner's override to what `change` makes of it, under the owner's quota lock: `ifMatch`,
 * an ETag the client read, is compared there, so a change made since is not written over (412, and
 * nothing changes). Answers the override as it is now and its ETag.
 */
async function changeQuotaOverride(
  db: Knex,
  defaults: QuotaDefaults,
  ownerId: string,
  ifMatch: string | undefined,
  change: (current: { bytes: number | null; assets: number | null }) => { bytes: number | null; assets: number | null },
  audit: AuditTrail,
): Promise<{ quota: QuotaJson; etag: string }> {
  return db.transaction(async (trx) => {
    await lockQuotaOwner(trx, ownerId);
    const current = await findQuotaOverride(trx, ownerId);
    const read = quotaEtag(current?.revision ?? 0);
    ensureIfMatch(ifMatch, read, (etag) => `the quota of ${ownerId} has changed: its ETag is ${etag}`);
    const next = change({ bytes: current?.max_bytes ?? null, assets: current?.max_assets ?? null });
    const row = { owner_id: ownerId, max_bytes: next.bytes, max_assets: next.assets };
    // The override as it was (an empty patch, the same limits again): nothing to write, and its ETag stays.
    const unchanged = next.bytes === (current?.max_bytes ?? null) && next.assets === (current?.max_assets ?? null);
    const revision = unchanged ? (current?.revision ?? 0) : await writeQuotaOverride(trx, row);
    await audit.record(trx);
    return { quota: quotaJsonOf(defaults, ownerId, row), etag: quotaEtag(revision) };
  });
}

/** PUT /quotas/{owner_id}: replaces the owner's override; with neither limit given, the defaults apply again. */
export async function setQuotaOverride(
  db: Knex,
  defaults: QuotaDefaults,
  ownerId: string,
  override: QuotaOverride,
  ifMatch: string | undefined,
  audit: AuditTrail,
): Promise<{ usage: UsageJson; etag: string }> {
  const { etag } = await changeQuotaOverride(db, defaults, ownerId, ifMatch, () => ({ bytes: override.bytes ?? null, assets: override.assets ?? null }), audit);
  return { usage: await usageOf(db, defaults, ownerId), etag };
}

/** PATCH /quotas/{owner_id} (a merge patch, RFC 7396): a limit given replaces the override's, null takes it back to the default, one left out stays. */
export async function patchQuotaOverride(
  db: Knex,
  defaults: QuotaDefaults,
  ownerId: string,
  patch: QuotaOverride,
  ifMatch: string | undefined,
  audit: AuditTrail,
): Promise<{ quota: QuotaJson; etag: string }> {
  return changeQuotaOverride(
    db,
    defaults,
    ownerId,
    ifMatch,
    (current) => ({ bytes: patch.bytes === undefined ? current.bytes : patch.bytes, assets: patch.assets === undefined ? current.assets : patch.assets }),
    audit,
  );
}

/**
 * Throws QuotaExceededError when what `trx` has just added for `ownerId` (`added` bytes reserved or
 * stored, `added` assets) takes them past a limit; answers the bytes still free. Only what grew is
 * checked: an owner over a lowered limit may still delete, or make a new empty asset if only bytes
 * are short. Call it after the change, in its transaction (the usage row is then locked).
 */
export async function ensureWithinQuota(
  trx: Knex.Transaction,
  defaults: QuotaDefaults,
  ownerId: string,
  added: { bytes: number; assets: number },
): Promise<{ roomBytes: number }> {
  const { usage, quota } = await readUsage(trx, defaults, ownerId);
  const bytesUsed = usage.bytes_stored + usage.reserved_bytes;
  const assetsUsed = usage.assets + usage.reserved_assets;
  if (added.assets > 0 && quota.assets !== null && assetsUsed > quota.assets) {
    throw refusal(ownerId, 'assets', assetsUsed - added.assets, added.assets, quota.assets);
  }
  if (added.bytes > 0 && quota.bytes !== null && bytesUsed > quota.bytes) {
    throw refusal(ownerId, 'bytes', bytesUsed - added.bytes, added.bytes, quota.bytes);
  }
  return { roomBytes: quota.bytes === null ? Infinity : Math.max(0, quota.bytes - bytesUsed) };
}

/**
 * The message names no figure of the owner's: it is also the failed session's error, which whoever
 * sent the upload reads. The figures are facts, shown only to whom refusalFactsFor allows.
 */
function refusal(ownerId: string, limit: 'bytes' | 'assets', usage: number, requested: number, max: number): QuotaExceededError {
  const what = limit === 'bytes' ? `${requested} more bytes` : `${requested} more asset${requested === 1 ? '' : 's'}`;
  return new QuotaExceededError(`${what} would pass the ${limit} quota of ${ownerId}`, {
    owner_id: ownerId,
    quota: limit,
    usage,
    requested,
    limit: max,
  });
}

/** Who may see an owner's usage and limits: the owner, and admins (GET /usage, a refusal's figures). */
export const mayReadUsageOf = (actor: Actor, ownerId: string): boolean => actor.sub === ownerId || isAdmin(actor);

/**
 * A refusal's facts as `actor` may see them: a grantee writing into another owner's asset learns
 * which limit and what they asked for, not how much the owner stores or may store.
 */
export function refusalFactsFor(actor: Actor | undefined, facts: ErrorFacts): ErrorFacts {
  if (actor && mayReadUsageOf(actor, String(facts.owner_id))) return facts;
  const { usage: _usage, limit: _limit, ...shown } = facts;
  return shown;
}
