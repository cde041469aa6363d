/**
 * A sweep's candidates, phase by phase: what the plan's rules take, as of the run's clock, walked by
 * keyset a batch at a time. Written once for the dry run and the real one, so a dry run walks exactly
 * the candidates the real run then removes.
 */
import type { Knex } from 'knex';
import { selectAssetIdsFrom, selectExpireCandidates, selectPurgeCandidates, selectVersionCandidates } from '../assets/store';
import { selectUploadCandidates } from '../uploads/store';
import type { SweepPlan } from './runs';
import { expireRules, purgeRules, uploadRules, versionRules } from './store';

export interface UploadCandidate {
  uploadId: string;
  workflowId: string;
}

export interface PurgeCandidate {
  assetId: string;
  workflowId: string;
  sizeBytes: number;
  /** Its deleted_at as picked (exact text): its purge goes on only if it is still soft-deleted since then at the latest. */
  deletedAt: string;
}

export interface VersionCandidate {
  id: string;
  asset_id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
}

/** Where a walk by time stands: after the row of that exact time (text, to the microsecond) and id. */
export type TimeCursor = { at: string; id: string };
/** Where a version walk stands: after that version, or (version_number null) after that whole asset. */
export type VersionCursor = { asset_id: string; version_number: number | null };

export async function uploadCandidates(db: Knex, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) {
  const rules = uploadRules(db, plan, asOf);
  if (!rules) return undefined;
  return selectUploadCandidates(db, rules, after, limit);
}

export async function purgeCandidates(db: Knex, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) {
  const rules = purgeRules(db, plan, asOf);
  if (!rules) return undefined;
  return selectPurgeCandidates(db, rules, after, limit);
}

/** The real run locks what it picked; a row changed meanwhile is checked again and may drop out. */
export async function expireCandidates(trx: Knex.Transaction, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number, lock: boolean) {
  const rules = expireRules(trx, plan, asOf);
  if (!rules) return [];
  return selectExpireCandidates(trx, rules, after, limit, lock);
}

/**
 * The next noncurrent versions to remove, among the assets `from`..`to` (by id): in each asset its
 * versions oldest first, ranked per asset (an index lookup each, never a sort of the whole table).
 * Versions of an asset this run purges are left to the purge. Removing a candidate never makes
 * another one stop being a candidate (a rule that takes a version takes every older version of its
 * asset, and removing older versions changes no newer version's rank), so a walk by keyset meets
 * every candidate once, in a dry run and in a real one.
 */
export function versionCandidatesQuery(
  db: Knex,
  plan: SweepPlan,
  asOf: Date,
  range: { from: string; to: string; after?: VersionCursor },
  limit: number,
): Knex.QueryBuilder | undefined {
  const rules = versionRules(db, plan, asOf);
  if (!rules) return undefined;
  return selectVersionCandidates(db, rules, purgeRules(db, plan, asOf)?.predicate, range, limit);
}

/**
 * The next batch of version candidates after the cursor: up to `limit` of them, from the next
 * `limit` assets. `scannedThrough` is the last asset looked at (null: no asset is left).
 */
export async function versionCandidates(
  db: Knex,
  plan: SweepPlan,
  asOf: Date,
  after: VersionCursor | null,
  limit: number,
): Promise<{ candidates: VersionCandidate[]; scannedThrough: string | null } | undefined> {
  if (!versionRules(db, plan, asOf)) return undefined;
  // A cursor on a version resumes inside its asset; one on an asset alone, after it.
  const ids = await selectAssetIdsFrom(db, after && { id: after.asset_id, inclusive: after.version_number !== null }, limit);
  if (ids.length === 0) return { candidates: [], scannedThrough: null };
  const query = versionCandidatesQuery(db, plan, asOf, { from: ids[0], to: ids[ids.length - 1], after: after ?? undefined }, limit)!;
  return { candidates: (await query) as VersionCandidate[], scannedThrough: ids[ids.length - 1] };
}
