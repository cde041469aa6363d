/**
 * Lifecycle sweeps (ARCHITECTURE.md flow 3), the catalog side: the run rows, and the set-based SQL
 * that picks each phase's candidates, written once for the dry run and the real one.
 *
 * A run goes through its phases in order: abort old upload sessions, purge old soft-deleted assets,
 * soft-delete assets not updated for long, expire noncurrent versions. Every age is measured from the
 * run's `as_of` (Temporal's clock when it began). Each phase walks its candidates by keyset, a batch
 * at a time; a batch commits its changes, its counts and the next position together, guarded by the
 * run's `step` (compare-and-set), so a retried batch never counts or removes anything twice, and a
 * dry run, which changes nothing, walks exactly the candidates the real run then removes.
 */
import type { Knex } from 'knex';
import { lifecycleWorkflowId } from '../../workflows/lifecycle/definitions';
import { deleteAssetWorkflowId } from '../../workflows/assets/definitions';
import { ASSET_FILTER_COLUMNS, assetFilterSql, type AssetFilterColumns } from '../assets/assets';
import { enabledPolicies, findPolicy, type PolicyFilter, type PolicyRule } from './policies';
import { deleteVersionRows, rankedVersions } from '../assets/versions';
import { allOf, anyOf, exactTimeSql } from '../platform/db';
import { NotFoundError } from '../platform/errors';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { recordEvent } from '../events/outbox';
import { runActorOf, type AuditEntry, type AuditWriter } from '../audit/log';
import { actorRef, type ActorRef } from '../auth/actor';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';

export const LIFECYCLE_PHASES = ['uploads', 'purge', 'assets', 'versions', 'done'] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];
export type LifecycleRunStatus = 'pending' | 'running' | 'completed' | 'failed';

export const DEFAULT_BATCH_SIZE = 1000;
const DAY_MS = 86_400_000;

/** What a run applies, fixed when it begins. */
export interface SweepPlan {
  policies: Array<{ id: string; name: string; filter: PolicyFilter; rules: PolicyRule[] }>;
  /** STORAGE_VERSION_RETENTION_DAYS and STORAGE_MAX_VERSIONS; null for a run of one policy. */
  global: { version_retention_days: number; max_versions: number } | null;
}

export interface LifecycleCounts {
  versions_expired: number;
  assets_expired: number;
  assets_purged: number;
  uploads_aborted: number;
  bytes_freed: number;
}

export interface LifecycleRunRow extends LifecycleCounts {
  id: string;
  policy_id: string | null;
  trigger: 'api' | 'schedule';
  dry_run: boolean;
  status: LifecycleRunStatus;
  workflow_id: string;
  as_of: Date | null;
  plan: SweepPlan | null;
  batch_size: number;
  phase: LifecyclePhase;
  cursor: Record<string, string | number | null> | null;
  step: number;
  /** Whom the run acts for; null for runs begun before runs recorded it. */
  actor: ActorRef | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

export interface LifecycleRunJson {
  id: string;
  status: LifecycleRunStatus;
  dry_run: boolean;
  policy_id: string | null;
  trigger: 'api' | 'schedule';
  counts: LifecycleCounts;
  phase: LifecyclePhase;
  as_of: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  workflow_id: string;
  error: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function countsOf(row: LifecycleCounts): LifecycleCounts {
  return {
    versions_expired: row.versions_expired,
    assets_expired: row.assets_expired,
    assets_purged: row.assets_purged,
    uploads_aborted: row.uploads_aborted,
    bytes_freed: row.bytes_freed,
  };
}

export function toRunJson(row: LifecycleRunRow): LifecycleRunJson {
  return {
    id: row.id,
    status: row.status,
    dry_run: row.dry_run,
    policy_id: row.policy_id,
    trigger: row.trigger,
    counts: countsOf(row),
    phase: row.phase,
    as_of: iso(row.as_of),
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    workflow_id: row.workflow_id,
    error: row.error,
  };
}

// ---------------------------------------------------------------------------------------------
// Run rows

export async function insertRun(
  db: Knex,
  run: { id?: string; policyId?: string | null; trigger: 'api' | 'schedule'; dryRun: boolean; batchSize?: number; actor?: ActorRef },
): Promise<string> {
  const id = run.id ?? uuidv7();
  // A repeated insert (a retried activity) finds the row it made.
  await db('lifecycle_runs')
    .insert({
      id,
      policy_id: run.policyId ?? null,
      trigger: run.trigger,
      dry_run: run.dryRun,
      status: 'pending',
      workflow_id: lifecycleWorkflowId(id),
      batch_size: run.batchSize ?? DEFAULT_BATCH_SIZE,
      actor: run.actor ? JSON.stringify(actorRef(run.actor)) : null,
    })
    .onConflict('id')
    .ignore();
  return id;
}

export async function findRun(db: Knex | Knex.Transaction, id: string): Promise<LifecycleRunRow | undefined> {
  return db('lifecycle_runs').where({ id }).first();
}

export async function getRun(db: Knex | Knex.Transaction, id: string): Promise<LifecycleRunRow> {
  const row = await findRun(db, id);
  if (!row) throw new NotFoundError(`lifecycle run ${id} not found`);
  return row;
}

type RunCursor = { id: string };

/** Newest first: run ids are UUID v7. */
export async function listRuns(db: Knex, q: { limit: number; cursor?: string }): Promise<Page<LifecycleRunJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is RunCursor => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const query = db('lifecycle_runs')
    .orderBy('id', 'desc')
    .limit(q.limit + 1);
  if (cursor) query.where('id', '<', cursor.id);
  return pageOf((await query) as LifecycleRunRow[], q.limit, toRunJson, (row) => ({ id: row.id }));
}

async function buildPlan(trx: Knex.Transaction, policyId: string | null, global: NonNullable<SweepPlan['global']>): Promise<SweepPlan> {
  const policies = policyId ? [await findPolicy(trx, policyId)] : await enabledPolicies(trx);
  if (policies.some((p) => p === undefined)) throw new NotFoundError(`policy ${policyId} not found`);
  return {
    policies: policies.map((p) => ({ id: p!.id, name: p!.name, filter: p!.filter, rules: p!.rules })),
    global: policyId ? null : global,
  };
}

/**
 * Marks the run running and fixes its clock and plan, once: a retry or a continued run finds them
 * set and keeps them.
 */
export async function beginRun(db: Knex, runId: string, asOf: Date, global: NonNullable<SweepPlan['global']>): Promise<LifecycleRunRow> {
  return db.transaction(async (trx) => {
    const run = (await trx('lifecycle_runs').where({ id: runId }).forUpdate().first()) as LifecycleRunRow | undefined;
    if (!run) throw new NotFoundError(`lifecycle run ${runId} not found`);
    if (run.plan) return run;
    const plan = await buildPlan(trx, run.policy_id, global);
    await trx('lifecycle_runs')
      .where({ id: runId })
      .update({ status: 'running', as_of: asOf, plan: JSON.stringify(plan), started_at: trx.fn.now() });
    return getRun(trx, runId);
  });
}

export async function completeRun(db: Knex, runId: string): Promise<LifecycleRunRow> {
  await db('lifecycle_runs').where({ id: runId, phase: 'done' }).whereNot({ status: 'completed' }).update({ status: 'completed', completed_at: db.fn.now() });
  return getRun(db, runId);
}

/** A run that stopped for good; a completed run stays completed. */
export async function failRun(db: Knex, runId: string, error: string): Promise<void> {
  await db('lifecycle_runs').where({ id: runId }).whereIn('status', ['pending', 'running']).update({ status: 'failed', error, completed_at: db.fn.now() });
}

// ---------------------------------------------------------------------------------------------
// The candidate SQL

type Sql = Knex.Raw;

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

/** A phase's rules as one predicate, and the widest age bound among them (for the index range). */
interface PhaseRules {
  predicate: Sql;
  bound: Date;
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

/** abort_incomplete_uploads: open sessions created that long ago. */
function uploadRules(db: Knex, plan: SweepPlan, asOf: Date) {
  return daysRules(db, plan, asOf, 'abort_incomplete_uploads', SESSION_COLUMNS, 's.created_at');
}

/** purge_deleted: soft-deleted assets deleted that long ago (alias `a`, `a.is_deleted` checked apart). */
function purgeRules(db: Knex, plan: SweepPlan, asOf: Date) {
  return daysRules(db, plan, asOf, 'purge_deleted', ASSET_FILTER_COLUMNS, 'a.deleted_at');
}

/** expire_assets: live assets not updated that long. */
function expireRules(db: Knex, plan: SweepPlan, asOf: Date) {
  return daysRules(db, plan, asOf, 'expire_assets', ASSET_FILTER_COLUMNS, 'a.updated_at');
}

/**
 * Noncurrent versions (alias `r`, ranked by rankedVersions) that any rule removes: a policy's
 * expire_noncurrent_versions (noncurrent that long, beyond its keep_latest newest noncurrent ones),
 * STORAGE_VERSION_RETENTION_DAYS (noncurrent that long), STORAGE_MAX_VERSIONS (beyond that many
 * newest versions). Overlapping rules: the union, so whichever removes sooner wins.
 */
function versionRules(db: Knex, plan: SweepPlan, asOf: Date): Sql | undefined {
  const parts: Sql[] = [];
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

/** A timestamp as exact text (to the microsecond, UTC): a keyset position a JS Date would round. */
export interface UploadCandidate {
  uploadId: string;
  workflowId: string;
}

export interface PurgeCandidate {
  assetId: string;
  workflowId: string;
  sizeBytes: number;
}

export interface VersionCandidate {
  id: string;
  asset_id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
}

type TimeCursor = { at: string; id: string };
/** Where a version walk stands: after that version, or (version_number null) after that whole asset. */
type VersionCursor = { asset_id: string; version_number: number | null };

async function uploadCandidates(db: Knex, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) {
  const rules = uploadRules(db, plan, asOf);
  if (!rules) return undefined;
  const query = db('upload_sessions as s')
    .leftJoin('assets as a', 'a.id', 's.asset_id')
    .select('s.id', 's.workflow_id', db.raw(`${exactTimeSql('s.created_at')} AS at`))
    .where('s.status', 'open')
    .where('s.created_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 's.created_at' }, { column: 's.id' }])
    .limit(limit);
  if (after) query.whereRaw('(s.created_at, s.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return (await query) as Array<{ id: string; workflow_id: string; at: string }>;
}

async function purgeCandidates(db: Knex, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) {
  const rules = purgeRules(db, plan, asOf);
  if (!rules) return undefined;
  const query = db('assets as a')
    .select(
      'a.id',
      db.raw(`${exactTimeSql('a.deleted_at')} AS at`),
      db.raw('(SELECT COALESCE(sum(v.size_bytes), 0) FROM asset_versions v WHERE v.asset_id = a.id)::bigint AS size_bytes'),
    )
    .where('a.is_deleted', true)
    .where('a.deleted_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.deleted_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.deleted_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return (await query) as Array<{ id: string; at: string; size_bytes: number }>;
}

function expireCandidates(trx: Knex.Transaction, plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) {
  const rules = expireRules(trx, plan, asOf);
  if (!rules) return undefined;
  const query = trx('assets as a')
    .select('a.id', trx.raw(`${exactTimeSql('a.updated_at')} AS at`))
    .where('a.is_deleted', false)
    .where('a.updated_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.updated_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.updated_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
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
  const purge = purgeRules(db, plan, asOf);
  const query = db('assets as a')
    // (knex types raw bindings as values; a query builder binding is a subquery, as documented.)
    .joinRaw('CROSS JOIN LATERAL ? AS r', [rankedVersions(db, (q) => q.whereRaw('v.asset_id = a.id')) as unknown as Knex.Value])
    .select('r.id', 'r.asset_id', 'r.version_number', 'r.object_key', 'r.size_bytes')
    .whereBetween('a.id', [range.from, range.to])
    .whereNotNull('r.superseded_at')
    .where(rules)
    .orderBy(['a.id', 'r.version_number'])
    .limit(limit);
  const after = range.after;
  if (after?.version_number != null) query.whereRaw('(r.asset_id, r.version_number) > (?::uuid, ?::int)', [after.asset_id, after.version_number]);
  if (purge) query.whereRaw('NOT (a.is_deleted AND (?))', [purge.predicate]);
  return query;
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
  const next = db('assets').orderBy('id').limit(limit);
  // A cursor on a version resumes inside its asset; one on an asset alone, after it.
  if (after) next.where('id', after.version_number === null ? '>' : '>=', after.asset_id);
  const ids: string[] = await next.pluck('id');
  if (ids.length === 0) return { candidates: [], scannedThrough: null };
  const query = versionCandidatesQuery(db, plan, asOf, { from: ids[0], to: ids[ids.length - 1], after: after ?? undefined }, limit)!;
  return { candidates: (await query) as VersionCandidate[], scannedThrough: ids[ids.length - 1] };
}

// ---------------------------------------------------------------------------------------------
// Batches

function nextPhase(phase: LifecyclePhase): LifecyclePhase {
  return LIFECYCLE_PHASES[Math.min(LIFECYCLE_PHASES.indexOf(phase) + 1, LIFECYCLE_PHASES.length - 1)];
}

function startedRun(run: LifecycleRunRow): { plan: SweepPlan; asOf: Date } {
  if (!run.plan || !run.as_of) throw new Error(`lifecycle run ${run.id} has not begun`);
  return { plan: run.plan, asOf: run.as_of };
}

/**
 * Commits one batch: counts added, the next position (or the next phase), step + 1, if and only if
 * the run is still at `step`. False when another attempt committed this batch already.
 */
async function commitBatch(
  trx: Knex | Knex.Transaction,
  run: Pick<LifecycleRunRow, 'id' | 'step' | 'phase'>,
  next: { cursor: Record<string, string | number | null> | null; phaseDone?: boolean; counts?: Partial<LifecycleCounts> },
): Promise<boolean> {
  const fields: Record<string, unknown> = {
    step: run.step + 1,
    cursor: next.cursor === null ? null : JSON.stringify(next.cursor),
    phase: next.phaseDone ? nextPhase(run.phase) : run.phase,
  };
  for (const [key, n] of Object.entries(next.counts ?? {})) if (n) fields[key] = trx.raw('?? + ?', [key, n]);
  const updated = await trx('lifecycle_runs').where({ id: run.id, step: run.step, phase: run.phase }).update(fields);
  return updated > 0;
}

async function lockRun(trx: Knex.Transaction, runId: string): Promise<LifecycleRunRow> {
  const run = (await trx('lifecycle_runs').where({ id: runId }).forUpdate().first()) as LifecycleRunRow | undefined;
  if (!run) throw new NotFoundError(`lifecycle run ${runId} not found`);
  return run;
}

/** What a workflow-driven phase (uploads, purge) does next: a batch to act on, or nothing left. */
export type WorkflowBatch<T> = { phase: LifecyclePhase; dryRun: boolean; step: number; cursor: TimeCursor; items: T[] } | { phase: LifecyclePhase; done: true };

async function workflowBatch<T>(
  db: Knex,
  runId: string,
  phase: 'uploads' | 'purge',
  limit: number,
  pick: (plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) => Promise<Array<{ at: string; id: string; item: T }> | undefined>,
): Promise<WorkflowBatch<T>> {
  const run = await getRun(db, runId);
  if (run.phase !== phase) return { phase: run.phase, done: true };
  const { plan, asOf } = startedRun(run);
  const rows = await pick(plan, asOf, run.cursor as TimeCursor | null, Math.min(run.batch_size, limit));
  if (!rows?.length) {
    await commitBatch(db, run, { cursor: null, phaseDone: true });
    return { phase: nextPhase(phase), done: true };
  }
  const last = rows[rows.length - 1];
  return { phase, dryRun: run.dry_run, step: run.step, cursor: { at: last.at, id: last.id }, items: rows.map((r) => r.item) };
}

/** Sessions and assets a workflow acts on go in batches of at most this many (they become history events). */
export const WORKFLOW_BATCH = 50;

export function nextUploadBatch(db: Knex, runId: string): Promise<WorkflowBatch<UploadCandidate>> {
  return workflowBatch(db, runId, 'uploads', WORKFLOW_BATCH, async (plan, asOf, after, limit) =>
    (await uploadCandidates(db, plan, asOf, after, limit))?.map((r) => ({ at: r.at, id: r.id, item: { uploadId: r.id, workflowId: r.workflow_id } })),
  );
}

export function nextPurgeBatch(db: Knex, runId: string): Promise<WorkflowBatch<PurgeCandidate>> {
  return workflowBatch(db, runId, 'purge', WORKFLOW_BATCH, async (plan, asOf, after, limit) =>
    (await purgeCandidates(db, plan, asOf, after, limit))?.map((r) => ({
      at: r.at,
      id: r.id,
      item: { assetId: r.id, workflowId: deleteAssetWorkflowId(r.id), sizeBytes: r.size_bytes },
    })),
  );
}

/** Records what the workflow did with a batch it was given; a repeat of the same batch changes nothing. */
export async function commitWorkflowBatch(
  db: Knex,
  runId: string,
  batch: { phase: 'uploads' | 'purge'; step: number; cursor: TimeCursor; counts: Partial<LifecycleCounts> },
): Promise<boolean> {
  return commitBatch(db, { id: runId, step: batch.step, phase: batch.phase }, { cursor: batch.cursor, counts: batch.counts });
}

export interface BatchOutcome {
  phase: LifecyclePhase;
  /** What this batch did (zero when another attempt had done it). */
  processed: number;
  /** The assets whose rows the batch changed, for the cache to forget. */
  changed?: string[];
}

/** What a sweep's commit writes of each thing it changed: acting for the run's actor, under its workflow id. */
function sweepEntries(run: LifecycleRunRow, action: string, subjects: AuditEntry['subjects'][]): AuditEntry[] {
  return subjects.map((s) => ({ actor: runActorOf(run), action, outcome: 'completed', subjects: s, requestId: run.workflow_id }));
}

/** One batch of expire_assets: soft-deletes, with each asset's storage.asset.deleted event and audit row, in one transaction. */
export async function expireAssetsBatch(db: Knex, runId: string, audit: AuditWriter): Promise<BatchOutcome> {
  return db.transaction(async (trx) => {
    const run = await lockRun(trx, runId);
    if (run.phase !== 'assets') return { phase: run.phase, processed: 0 };
    const { plan, asOf } = startedRun(run);
    const query = expireCandidates(trx, plan, asOf, run.cursor as TimeCursor | null, run.batch_size);
    // The real run locks what it picked; a row changed meanwhile is checked again and may drop out.
    const rows: Array<{ id: string; at: string }> = query ? await (run.dry_run ? query : query.forUpdate()) : [];
    if (rows.length === 0) {
      await commitBatch(trx, run, { cursor: null, phaseDone: true });
      return { phase: nextPhase(run.phase), processed: 0 };
    }
    let expired = rows.length;
    if (!run.dry_run) {
      const ids = await trx('assets')
        .whereRaw('id = ANY(?::uuid[])', [rows.map((r) => r.id)])
        .where('is_deleted', false)
        .update({ is_deleted: true, deleted_at: trx.fn.now(), revision: trx.raw('revision + 1') })
        .returning('id');
      expired = ids.length;
      for (const { id } of ids as Array<{ id: string }>) {
        await recordEvent(trx, 'storage.asset.deleted', id, { asset_id: id, permanent: false, reason: 'lifecycle', run_id: runId });
      }
      await audit(
        trx,
        sweepEntries(
          run,
          'lifecycle.expire_asset',
          (ids as Array<{ id: string }>).map(({ id }) => ({ asset_id: id })),
        ),
      );
    }
    const last = rows[rows.length - 1];
    await commitBatch(trx, run, { cursor: { at: last.at, id: last.id }, counts: { assets_expired: expired } });
    return { phase: run.phase, processed: expired, changed: run.dry_run ? [] : rows.map((r) => r.id) };
  });
}

/**
 * One batch of version expiry. Objects go first, then rows with the counts (a crash between leaves
 * rows whose objects are gone, which the next attempt or run picks again: never an object without
 * its row). `retireVersions` removes the versions' objects from the bucket (marked and handed to
 * running backups first: lib/backups/handoff.ts) and is idempotent.
 */
export async function expireVersionsBatch(
  db: Knex,
  runId: string,
  retireVersions: (versions: VersionCandidate[]) => Promise<void>,
  audit: AuditWriter,
): Promise<BatchOutcome> {
  const run = await getRun(db, runId);
  if (run.phase !== 'versions') return { phase: run.phase, processed: 0 };
  const { plan, asOf } = startedRun(run);
  const batch = await versionCandidates(db, plan, asOf, run.cursor as VersionCursor | null, run.batch_size);
  if (!batch || batch.scannedThrough === null) {
    await commitBatch(db, run, { cursor: null, phaseDone: true });
    return { phase: nextPhase(run.phase), processed: 0 };
  }
  const { candidates } = batch;
  if (!run.dry_run && candidates.length) await retireVersions(candidates);
  return db.transaction(async (trx) => {
    const locked = await lockRun(trx, runId);
    if (locked.step !== run.step || locked.phase !== run.phase) return { phase: locked.phase, processed: 0 };
    const removed = run.dry_run
      ? candidates
      : await deleteVersionRows(
          trx,
          candidates.map((c) => c.id),
        );
    // A full batch may have more in its last asset; a short one has seen every asset up to scannedThrough.
    const last = candidates[candidates.length - 1];
    const cursor: VersionCursor =
      candidates.length === run.batch_size
        ? { asset_id: last.asset_id, version_number: last.version_number }
        : { asset_id: batch.scannedThrough!, version_number: null };
    await commitBatch(trx, run, {
      cursor,
      counts: { versions_expired: removed.length, bytes_freed: removed.reduce((sum, v) => sum + v.size_bytes, 0) },
    });
    if (!run.dry_run) {
      await audit(
        trx,
        sweepEntries(
          run,
          'lifecycle.expire_version',
          removed.map((v) => ({ asset_id: v.asset_id, version_id: v.id })),
        ),
      );
    }
    return { phase: run.phase, processed: removed.length, changed: run.dry_run ? [] : [...new Set(removed.map((v) => v.asset_id))] };
  });
}
