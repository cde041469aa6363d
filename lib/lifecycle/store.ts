/**
 * The store of lifecycle policies and runs: the only code that runs SQL against lifecycle_policies, policy_rules, lifecycle_runs
 * and lifecycle_run_items.
 *
 * Invariants:
 * - A policy is live while is_deleted is false; a deleted one keeps its row (runs refer to it) and frees
 *   its name: lifecycle_policies_live_name_idx makes names unique among live policies only.
 * - A policy's rules are replaced whole, in the policy's own transaction: its rows are ordered by
 *   `position` from 0, and read back in (policy_id, position) order.
 * - A policy's `revision` moves by one with every change of it (its fields, its rules, its delete), in
 *   the transaction that makes the change: it is the policy's ETag (lib/lifecycle/policies.ts
 *   policyEtag), which If-Match compares under the policy's row lock (lockLivePolicy).
 * - A run's row is there only with its workflow: the API commits it in the transaction that started
 *   lifecycle-{run_id} (lib/lifecycle/sweepRuns.ts: start lock, insert, start, commit), so a starter
 *   that dies leaves no row, and a workflow whose row never came finds none and fails (not retried);
 *   a scheduled sweep writes its row in its own activity, then starts its child. A pending row whose
 *   workflow does not exist long after it was written is failed by whoever reads it, and by the
 *   lifecycle sweep (strandedRuns.ts), with any running row whose workflow no longer runs.
 * - A run's as_of and plan are written once, by the transaction that holds its row FOR UPDATE and finds
 *   no plan; a retry or a continued run keeps them.
 * - A run moves only forward: every batch advances `step` by one with a compare-and-set on (id, step,
 *   phase), adding its counts in the same update, so a retried batch never counts twice. `phase` goes
 *   uploads → purge → assets → versions → done; status pending → running → completed | failed, and a
 *   completed run is never failed afterwards.
 * - lifecycle_run_items (issue 29) holds what a dry run would remove, item by item; only a dry run has
 *   items (a real run's removals are in the audit log). An item is written by the batch that found it,
 *   in the phase's order (`seq`, the list's order): an expired version or asset in the transaction that
 *   records its batch under the run's row lock, a session to abort or an asset to purge as its batch is
 *   handed to the workflow. A batch picked again (a retried activity) finds the same items, and
 *   (run_id, action, item_id) is unique: each is recorded once. Items never change; they go with their
 *   run's row (ON DELETE CASCADE, as table retention removes ended runs).
 *
 * Lock order: the run's start lock (an advisory lock on its id, lockRunStart) first, then the run's
 * row (FOR UPDATE), then what its batch changes, in the asset's order
 * (asset rows → their version rows → owner_usage, through the usage triggers) and the outbox and audit
 * rows last; a dry run's items after its run's row, or under no lock at all (the workflow's batches), and
 * nothing after them. Version expiry locks the versions' asset rows in id order (deleteVersionRows); expire_assets
 * locks its candidate assets in the order it walks them, (updated_at, id), not by id. Policy writers
 * take the policy row (FOR UPDATE, or the UPDATE that changes it), then its rules, then the audit row.
 *
 * The rule predicates below are SQL text over the aliases the candidate queries (lib/assets/store.ts,
 * lib/uploads/store.ts) give their tables: `a` an asset, `s` an upload session, `r` a ranked version.
 */
import type { Knex } from 'knex';
import { ASSET_FILTER_COLUMNS, assetFilterSql, type AssetFilterColumns } from '../assets/store';
import { allOf, anyOf } from '../platform/db';
import type { PolicyFilter, PolicyRule } from './policyRules';
import type { LifecycleCounts, LifecyclePhase, LifecycleRunRow, SweepPlan } from './runs';

type Db = Knex | Knex.Transaction;

// ---------------------------------------------------------------------------------------------
// Policies and their rules

export interface PolicyRow {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  filter: PolicyFilter;
  is_deleted: boolean;
  deleted_at: Date | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export interface RuleRow {
  policy_id: string;
  position: number;
  action: PolicyRule['action'];
  days: number;
  keep_latest: number | null;
}

/** The fields a create or a replace writes: the filter as jsonb text. */
export interface PolicyFields {
  name: string;
  description: string;
  enabled: boolean;
  filter: string;
}

export async function selectRulesOf(db: Db, policyIds: string[]): Promise<RuleRow[]> {
  return db('policy_rules').whereIn('policy_id', policyIds).orderBy(['policy_id', 'position']);
}

export async function selectLivePolicy(db: Db, id: string): Promise<PolicyRow | undefined> {
  return db('lifecycle_policies').where({ id, is_deleted: false }).first();
}

export async function selectEnabledPolicies(db: Db): Promise<PolicyRow[]> {
  return db('lifecycle_policies').where({ is_deleted: false, enabled: true }).orderBy('id');
}

/** Live policies by id, after `afterId`: `limit` of them. */
export async function selectPolicyPage(db: Db, limit: number, afterId?: string): Promise<PolicyRow[]> {
  const query = db('lifecycle_policies').where({ is_deleted: false }).orderBy('id').limit(limit);
  if (afterId) query.where('id', '>', afterId);
  return query;
}

export async function insertPolicyRow(db: Db, id: string, fields: PolicyFields): Promise<void> {
  await db('lifecycle_policies').insert({ id, ...fields });
}

/** The live policy's row, locked (FOR UPDATE); undefined when there is none such. */
export async function lockLivePolicy(trx: Knex.Transaction, id: string): Promise<PolicyRow | undefined> {
  return trx('lifecycle_policies').where({ id, is_deleted: false }).forUpdate().first();
}

/** Updates a live policy, its revision moved; answers how many rows it changed (0: none such). */
export async function updateLivePolicy(db: Db, id: string, fields: PolicyFields): Promise<number> {
  return db('lifecycle_policies')
    .where({ id, is_deleted: false })
    .update({ ...fields, revision: db.raw('revision + 1') });
}

export async function softDeletePolicy(db: Knex.Transaction, id: string): Promise<number> {
  return db('lifecycle_policies')
    .where({ id, is_deleted: false })
    .update({ is_deleted: true, deleted_at: db.fn.now(), revision: db.raw('revision + 1') });
}

export async function insertRuleRows(db: Db, rows: Array<Omit<RuleRow, 'keep_latest'> & { id: string; keep_latest: number | null }>): Promise<void> {
  await db('policy_rules').insert(rows);
}

export async function deleteRulesOf(db: Db, policyId: string): Promise<void> {
  await db('policy_rules').where({ policy_id: policyId }).delete();
}

// ---------------------------------------------------------------------------------------------
// Run rows

export interface NewRunRow {
  id: string;
  policy_id: string | null;
  trigger: 'api' | 'schedule';
  dry_run: boolean;
  workflow_id: string;
  batch_size: number;
  /** ActorRef as JSON text. */
  actor: string | null;
}

/** A repeated insert (a retried activity) finds the row it made. */
export async function insertRunRow(db: Db, row: NewRunRow): Promise<void> {
  await db('lifecycle_runs')
    .insert({ ...row, status: 'pending' })
    .onConflict('id')
    .ignore();
}

/**
 * The run's start lock, to the transaction's end: the API's start holds it from the row's insert to
 * its commit, so beginRun, which takes it before it reads the row, waits for the starter's outcome (a
 * row, or none) instead of reading too soon.
 */
export async function lockRunStart(trx: Knex.Transaction, id: string): Promise<void> {
  await trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('lifecycle_run:' || ?, 0))", [id]);
}

export async function selectRun(db: Db, id: string): Promise<LifecycleRunRow | undefined> {
  return db('lifecycle_runs').where({ id }).first();
}

export async function lockRunRow(trx: Knex.Transaction, id: string): Promise<LifecycleRunRow | undefined> {
  return trx('lifecycle_runs').where({ id }).forUpdate().first();
}

/** Newest first (run ids are UUID v7), before `beforeId`: `limit` of them. */
/** The filters of GET /lifecycle/runs. */
export interface RunFilter {
  status?: LifecycleRunRow['status'];
  created_after?: Date;
  created_before?: Date;
}

export async function selectRunPage(db: Db, limit: number, beforeId?: string, filter: RunFilter = {}): Promise<LifecycleRunRow[]> {
  const query = db('lifecycle_runs').orderBy('id', 'desc').limit(limit);
  if (beforeId) query.where('id', '<', beforeId);
  if (filter.status) query.where({ status: filter.status });
  // Exclusive, to the millisecond the answers show (as the assets' filters).
  if (filter.created_after) query.where('created_at', '>=', new Date(filter.created_after.getTime() + 1));
  if (filter.created_before) query.where('created_at', '<', filter.created_before);
  return query;
}

export async function markRunBegun(trx: Knex.Transaction, id: string, asOf: Date, plan: SweepPlan): Promise<void> {
  await trx('lifecycle_runs')
    .where({ id, status: 'pending' })
    .update({ status: 'running', as_of: asOf, plan: JSON.stringify(plan), started_at: trx.fn.now() });
}

/** A run that reached `done` completes, once. */
export async function markRunCompleted(db: Knex, id: string): Promise<void> {
  await db('lifecycle_runs').where({ id, phase: 'done' }).whereNot({ status: 'completed' }).update({ status: 'completed', completed_at: db.fn.now() });
}

export async function markRunFailed(db: Knex, id: string, error: string): Promise<void> {
  await db('lifecycle_runs').where({ id }).whereIn('status', ['pending', 'running']).update({ status: 'failed', error, completed_at: db.fn.now() });
}

/**
 * Advances the run by one batch if and only if it is still at (step, phase): the next step, position
 * and phase, its counts added. False when another attempt committed this batch already.
 */
export async function advanceRun(
  db: Db,
  at: { id: string; step: number; phase: LifecyclePhase },
  next: { cursor: Record<string, string | number | null> | null; phase: LifecyclePhase; counts?: Partial<LifecycleCounts> },
): Promise<boolean> {
  const fields: Record<string, unknown> = {
    step: at.step + 1,
    cursor: next.cursor === null ? null : JSON.stringify(next.cursor),
    phase: next.phase,
  };
  for (const [key, n] of Object.entries(next.counts ?? {})) if (n) fields[key] = db.raw('?? + ?', [key, n]);
  const updated = await db('lifecycle_runs').where({ id: at.id, step: at.step, phase: at.phase }).update(fields);
  return updated > 0;
}

/** Runs not ended (pending or running) written before `before`, by id after `afterId`: `limit` of them. */
export async function selectUnendedRunsBefore(
  db: Knex,
  before: Date,
  afterId: string | null,
  limit: number,
): Promise<Array<{ id: string; workflow_id: string }>> {
  const query = db('lifecycle_runs')
    .select('id', 'workflow_id')
    .whereIn('status', ['pending', 'running'])
    .where('created_at', '<', before)
    .orderBy('id')
    .limit(limit);
  if (afterId) query.where('id', '>', afterId);
  return query;
}

/** The metrics' count of runs by status. */
export async function countRunsByStatus(db: Knex): Promise<Array<{ status: string; n: number }>> {
  return db('lifecycle_runs').select('status', db.raw('count(*)::int AS n')).groupBy('status');
}

// ---------------------------------------------------------------------------------------------
// A plan's rules as SQL predicates

const DAY_MS = 86_400_000;

/** A phase's rules as one predicate, and the widest age bound among them (for the index range). */
export interface PhaseRules {
  predicate: Knex.Raw;
  bound: Date;
}

// A session's own name and type; its tags, or for a new version that keeps them, the asset's.
const SESSION_COLUMNS: AssetFilterColumns = { name: 's.name', contentType: 's.content_type', tags: `COALESCE(s.tags, a.tags, '{}')` };

function before(asOf: Date, days: number): Date {
  return new Date(asOf.getTime() - days * DAY_MS);
}

type DaysRule = Extract<PolicyRule, { days: number }>;

function rulesOf<A extends DaysRule['action']>(plan: SweepPlan, action: A): Array<{ filter: PolicyFilter; days: number }> {
  return plan.policies.flatMap((p) =>
    p.rules.filter((r): r is Extract<DaysRule, { action: A }> => r.action === action).map((r) => ({ filter: p.filter, days: r.days })),
  );
}

function daysRules(db: Knex, plan: SweepPlan, asOf: Date, action: DaysRule['action'], cols: AssetFilterColumns, ageColumn: string): PhaseRules | undefined {
  const rules = rulesOf(plan, action);
  if (rules.length === 0) return undefined;
  return {
    predicate: anyOf(
      db,
      rules.map((r) => allOf(db, [assetFilterSql(db, r.filter, cols), db.raw(`${ageColumn} <= ?`, [before(asOf, r.days)])])),
    ),
    bound: before(asOf, Math.min(...rules.map((r) => r.days))),
  };
}

/** abort_incomplete_uploads: open sessions (alias `s`, their asset `a`) created that long ago. */
export function uploadRules(db: Knex, plan: SweepPlan, asOf: Date): PhaseRules | undefined {
  return daysRules(db, plan, asOf, 'abort_incomplete_uploads', SESSION_COLUMNS, 's.created_at');
}

/** purge_deleted: soft-deleted assets deleted that long ago (alias `a`, `a.is_deleted` checked apart). */
export function purgeRules(db: Knex, plan: SweepPlan, asOf: Date): PhaseRules | undefined {
  return daysRules(db, plan, asOf, 'purge_deleted', ASSET_FILTER_COLUMNS, 'a.deleted_at');
}

/** expire_assets: live assets not updated that long. */
export function expireRules(db: Knex, plan: SweepPlan, asOf: Date): PhaseRules | undefined {
  return daysRules(db, plan, asOf, 'expire_assets', ASSET_FILTER_COLUMNS, 'a.updated_at');
}

/**
 * Noncurrent versions (alias `r`, ranked by rankedVersions) that any rule removes: a policy's
 * expire_noncurrent_versions (noncurrent that long, beyond its keep_latest newest noncurrent ones),
 * STORAGE_VERSION_RETENTION_DAYS (noncurrent that long), STORAGE_MAX_VERSIONS (beyond that many
 * newest versions). Overlapping rules: the union, so whichever removes sooner wins.
 */
export function versionRules(db: Knex, plan: SweepPlan, asOf: Date): Knex.Raw | undefined {
  const parts: Knex.Raw[] = [];
  for (const policy of plan.policies) {
    for (const rule of policy.rules) {
      if (rule.action !== 'expire_noncurrent_versions') continue;
      parts.push(
        allOf(db, [
          assetFilterSql(db, policy.filter),
          db.raw('r.superseded_at <= ?', [before(asOf, rule.noncurrent_days)]),
          db.raw('r.noncurrent_rank > ?', [rule.keep_latest ?? 0]),
        ]),
      );
    }
  }
  if (plan.global) {
    parts.push(db.raw('r.superseded_at <= ?', [before(asOf, plan.global.version_retention_days)]));
    parts.push(db.raw('r.rank_all > ?', [plan.global.max_versions]));
  }
  return parts.length ? anyOf(db, parts) : undefined;
}

// ---- used by backups (moved from lib/backups/records.ts) ----

/** A backup's record lines of lifecycle policies: every column of each, with its rules (read through a cursor in the manifest's snapshot). */
export const LIFECYCLE_POLICY_RECORDS_SQL = `SELECT to_jsonb(p) || jsonb_build_object('rules',
      (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.position), '[]'::jsonb) FROM policy_rules r WHERE r.policy_id = p.id)) AS row
    FROM lifecycle_policies p ORDER BY p.id`;
// ---- used by table retention (new, lib/lifecycle/tableRetention.ts) ----

/** Deletes up to `limit` runs that ended (completed or failed) before `before`, oldest first; answers how many. */
export async function deleteEndedRunsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const ended = db('lifecycle_runs')
    .select('id')
    .whereIn('status', ['completed', 'failed'])
    .whereRaw('coalesce(completed_at, updated_at) < ?', [before])
    .orderBy('id')
    .limit(limit);
  return db('lifecycle_runs').whereIn('id', ended).delete();
}

// ---------------------------------------------------------------------------------------------
// A dry run's items

export interface RunItemRow {
  action: 'abort_upload' | 'purge_asset' | 'expire_asset' | 'expire_version';
  /** The session, asset or version the action is about. */
  item_id: string;
  /** A version's asset; for an asset, the asset itself. */
  asset_id: string | null;
  size_bytes: number | null;
}

export async function insertRunItems(db: Knex | Knex.Transaction, runId: string, items: RunItemRow[]): Promise<void> {
  if (!items.length) return;
  await db('lifecycle_run_items')
    .insert(items.map((item) => ({ run_id: runId, ...item })))
    .onConflict(['run_id', 'action', 'item_id'])
    .ignore();
}

/** The run's items after position `afterSeq`, in the order they were found. */
export async function selectRunItems(db: Knex, runId: string, afterSeq: string | null, limit: number): Promise<Array<RunItemRow & { seq: string }>> {
  const query = db('lifecycle_run_items').select('seq', 'action', 'item_id', 'asset_id', 'size_bytes').where({ run_id: runId });
  if (afterSeq !== null) query.where('seq', '>', afterSeq);
  return (await query.orderBy('seq').limit(limit)) as Array<RunItemRow & { seq: string }>;
}
