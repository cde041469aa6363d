/**
 * A run's row through its life: written pending, begun once (its clock and plan fixed), advanced a
 * batch at a time by compare-and-set on its step, then completed or failed.
 */
import type { Knex } from 'knex';
import { lifecycleWorkflowId } from '../../workflows/lifecycle/definitions';
import { actorRef, type ActorRef } from '../auth/actor';
import { ConflictError, NotFoundError } from '../platform/errors';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { enabledPolicies, findPolicy } from './policies';
import { DEFAULT_BATCH_SIZE, nextPhase, toRunJson, type LifecycleCounts, type LifecycleRunJson, type LifecycleRunRow, type SweepPlan } from './runs';
import {
  advanceRun,
  insertRunRow,
  lockRunRow,
  lockRunStart,
  markRunBegun,
  markRunCompleted,
  markRunFailed,
  selectRun,
  selectRunPage,
  type RunFilter,
} from './store';

export async function insertRun(
  db: Knex | Knex.Transaction,
  run: { id?: string; policyId?: string | null; trigger: 'api' | 'schedule'; dryRun: boolean; batchSize?: number; actor?: ActorRef },
): Promise<string> {
  const id = run.id ?? uuidv7();
  await insertRunRow(db, {
    id,
    policy_id: run.policyId ?? null,
    trigger: run.trigger,
    dry_run: run.dryRun,
    workflow_id: lifecycleWorkflowId(id),
    batch_size: run.batchSize ?? DEFAULT_BATCH_SIZE,
    actor: run.actor ? JSON.stringify(actorRef(run.actor)) : null,
  });
  return id;
}

/**
 * The run's row, written under its start lock in the transaction of the starter, which commits it
 * only once the run's workflow has started: until then beginRun waits, and without it finds no row.
 */
export async function insertStartingRun(trx: Knex.Transaction, run: Parameters<typeof insertRun>[1] & { id: string }): Promise<string> {
  await lockRunStart(trx, run.id);
  return insertRun(trx, run);
}

export async function findRun(db: Knex | Knex.Transaction, id: string): Promise<LifecycleRunRow | undefined> {
  return selectRun(db, id);
}

export async function getRun(db: Knex | Knex.Transaction, id: string): Promise<LifecycleRunRow> {
  const row = await findRun(db, id);
  if (!row) throw new NotFoundError(`lifecycle run ${id} not found`);
  return row;
}

type RunCursor = { id: string };

/** Newest first: run ids are UUID v7. */
export async function listRuns(db: Knex, q: { limit: number; cursor?: string } & RunFilter): Promise<Page<LifecycleRunJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is RunCursor => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  return pageOf(await selectRunPage(db, q.limit + 1, cursor?.id, q), q.limit, toRunJson, (row) => ({ id: row.id }));
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
 * set and keeps them. It waits for a starter still in its transaction (the run's start lock): a run
 * whose starter died has no row (NotFoundError), one failed before it began stays so (ConflictError).
 */
export async function beginRun(db: Knex, runId: string, asOf: Date, global: NonNullable<SweepPlan['global']>): Promise<LifecycleRunRow> {
  return db.transaction(async (trx) => {
    await lockRunStart(trx, runId);
    const run = await lockRun(trx, runId);
    if (run.plan) return run;
    if (run.status !== 'pending') throw new ConflictError(`lifecycle run ${runId} ended (${run.status}) before it began: ${run.error ?? ''}`);
    const plan = await buildPlan(trx, run.policy_id, global);
    await markRunBegun(trx, runId, asOf, plan);
    return getRun(trx, runId);
  });
}

export async function completeRun(db: Knex, runId: string): Promise<LifecycleRunRow> {
  await markRunCompleted(db, runId);
  return getRun(db, runId);
}

/** A run that stopped for good; a completed run stays completed. */
export async function failRun(db: Knex, runId: string, error: string): Promise<void> {
  await markRunFailed(db, runId, error);
}

export async function lockRun(trx: Knex.Transaction, runId: string): Promise<LifecycleRunRow> {
  const run = await lockRunRow(trx, runId);
  if (!run) throw new NotFoundError(`lifecycle run ${runId} not found`);
  return run;
}

export function startedRun(run: LifecycleRunRow): { plan: SweepPlan; asOf: Date } {
  if (!run.plan || !run.as_of) throw new Error(`lifecycle run ${run.id} has not begun`);
  return { plan: run.plan, asOf: run.as_of };
}

/**
 * Commits one batch: counts added, the next position (or the next phase), step + 1, if and only if
 * the run is still at `step`. False when another attempt committed this batch already.
 */
export async function commitBatch(
  trx: Knex | Knex.Transaction,
  run: Pick<LifecycleRunRow, 'id' | 'step' | 'phase'>,
  next: { cursor: Record<string, string | number | null> | null; phaseDone?: boolean; counts?: Partial<LifecycleCounts> },
): Promise<boolean> {
  return advanceRun(trx, run, { cursor: next.cursor, phase: next.phaseDone ? nextPhase(run.phase) : run.phase, counts: next.counts });
}
