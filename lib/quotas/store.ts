/**
 * The store of quotas and usage: the only code that runs SQL against owner_quotas and owner_usage.
 *
 * Invariants
 * - owner_quotas: at most one row per owner, an admin's override; a null limit keeps the default
 *   (STORAGE_QUOTA_*_PER_OWNER), and a row with both limits null is deleted instead.
 * - owner_usage: one row per owner that ever stored or reserved anything, written only by the triggers
 *   of migrations/20261201000009_quotas.ts (storage_usage_add), in the transaction of the change they
 *   count: bytes_stored, assets and versions follow asset_versions and assets; reserved_bytes and
 *   reserved_assets are what the owner's open or completing upload sessions hold (their reserved_bytes,
 *   and one asset for a session that makes a new asset, lib/uploads/store.ts). A commit turns a
 *   reservation into stored bytes in one transaction: the version's insert adds them, the session
 *   leaving `completing` takes its reservation back. No code here writes owner_usage.
 * - A check of room (lib/quotas/quotas.ts ensureWithinQuota) runs after the change that needs it, in
 *   its transaction: the trigger has then locked the owner's usage row, so no other change of the same
 *   owner slips between the check and the commit.
 *
 * Lock order: owner_usage comes last, after the asset's row and the session's (lib/uploads/store.ts);
 * its row is locked by the trigger of the write that changes it, never by a SELECT here.
 * One write locks two owners' rows: a session whose quota owner changes at complete (lib/uploads/
 * sessions.ts markSessionCompleting) takes the old owner's, then the new one's (storage_sessions_usage).
 */
import type { Knex } from 'knex';

/** An owner's usage row and override, outer-joined from the owner's id: every column is null for an owner with neither. */
export interface UsageWithLimitsRow {
  bytes_stored: number | null;
  assets: number | null;
  versions: number | null;
  reserved_bytes: number | null;
  reserved_assets: number | null;
  max_bytes: number | null;
  max_assets: number | null;
}

/** In one round trip: every upload's path reads it. */
export async function readUsageWithLimits(db: Knex | Knex.Transaction, ownerId: string): Promise<UsageWithLimitsRow> {
  return db
    .select('u.*', 'q.max_bytes', 'q.max_assets')
    .from(db.raw('(SELECT ?::text AS owner_id) AS o', [ownerId]))
    .leftJoin('owner_usage as u', 'u.owner_id', 'o.owner_id')
    .leftJoin('owner_quotas as q', 'q.owner_id', 'o.owner_id')
    .first();
}

export async function deleteQuotaOverride(db: Knex | Knex.Transaction, ownerId: string): Promise<void> {
  await db('owner_quotas').where({ owner_id: ownerId }).delete();
}

export async function upsertQuotaOverride(
  db: Knex | Knex.Transaction,
  row: { owner_id: string; max_bytes: number | null; max_assets: number | null },
): Promise<void> {
  await db('owner_quotas').insert(row).onConflict('owner_id').merge(['max_bytes', 'max_assets']);
}

/** The owners storing the most bytes, for the bounded per-owner gauge. */
export async function topOwnersByBytes(db: Knex, n: number): Promise<Array<{ owner_id: string; bytes_stored: number }>> {
  return db('owner_usage')
    .where('bytes_stored', '>', 0)
    .orderBy([{ column: 'bytes_stored', order: 'desc' }, 'owner_id'])
    .limit(n)
    .select('owner_id', 'bytes_stored');
}

// ---- used by backups (moved from lib/backups/records.ts) ----

/** A backup's record lines of quota overrides (read through a cursor in the manifest's snapshot). */
export const OWNER_QUOTA_RECORDS_SQL = 'SELECT to_jsonb(q) AS row FROM owner_quotas q ORDER BY q.owner_id';
