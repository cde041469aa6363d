/**
 * The store of quotas and usage: the only code that runs SQL against owner_quotas and owner_usage.
 *
 * Invariants
 * - owner_quotas: at most one row per owner, an admin's override; a null limit keeps the default
 *   (STORAGE_QUOTA_*_PER_OWNER), and a row with both limits null is deleted instead. Its `revision`
 *   is the override's ETag (lib/quotas/quotas.ts quotaEtag; an owner without a row is revision 0):
 *   every write of the row takes a new one from owner_quotas_revision_seq, so a row written again
 *   after its deletion never repeats one an earlier row had.
 * - Every write of an owner's override (writeQuotaOverride) runs under the owner's quota lock
 *   (lockQuotaOwner), which it takes first: the If-Match of a PUT or a PATCH is compared under it, so
 *   two changes of one owner's override, with or without a row there yet, take turns.
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
 * Lock order: a quota override's writer takes the owner's quota lock (an advisory transaction lock),
 * then the owner_quotas row, and nothing after them. owner_usage comes last, after the asset's row and the session's (lib/uploads/store.ts);
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

export interface QuotaOverrideRow {
  max_bytes: number | null;
  max_assets: number | null;
  revision: number;
}

/** The owner's quota lock, until the transaction ends: what every write of their override takes first. */
export async function lockQuotaOwner(trx: Knex.Transaction, ownerId: string): Promise<void> {
  await trx.raw(`SELECT pg_advisory_xact_lock(hashtextextended('owner_quotas:' || ?, 0))`, [ownerId]);
}

/** The owner's override, or undefined without one. */
export async function findQuotaOverride(db: Knex | Knex.Transaction, ownerId: string): Promise<QuotaOverrideRow | undefined> {
  const row = await db('owner_quotas').where({ owner_id: ownerId }).first('max_bytes', 'max_assets', 'revision');
  return row && { max_bytes: toNumber(row.max_bytes), max_assets: toNumber(row.max_assets), revision: Number(row.revision) };
}

function toNumber(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}

/**
 * Writes the owner's override (under their quota lock, lockQuotaOwner): deleted when both limits are
 * null, else inserted or updated with a new revision. Answers the revision it has now (0: no row).
 */
export async function writeQuotaOverride(
  trx: Knex.Transaction,
  row: { owner_id: string; max_bytes: number | null; max_assets: number | null },
): Promise<number> {
  if (row.max_bytes === null && row.max_assets === null) {
    await trx('owner_quotas').where({ owner_id: row.owner_id }).delete();
    return 0;
  }
  const [written] = await trx('owner_quotas')
    .insert(row)
    .onConflict('owner_id')
    .merge({ max_bytes: row.max_bytes, max_assets: row.max_assets, revision: trx.raw(`nextval('owner_quotas_revision_seq')`) })
    .returning('revision');
  return Number(written.revision);
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
