/**
 * The API's side of lifecycle runs: start one now (its row and its workflow together, or neither),
 * and read one with its status reconciled against its workflow (a run whose workflow was terminated
 * could not record that itself).
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { lifecycleSweepWorkflow } from '../../workflows/lifecycle/sweep';
import { lifecycleOperation, lifecycleWorkflowId } from '../../workflows/lifecycle/definitions';
import { ServiceUnavailableError } from '../platform/errors';
import { inFlightBoundOf } from '../limits/pendingUploads';
import { uuidv7 } from '../platform/ids';
import { getPolicy } from './policies';
import { failRun, getRun, insertStartingRun } from './runRows';
import { PENDING_WITHOUT_WORKFLOW_MS, type LifecycleRunRow } from './runs';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import { actorRef, type ActorRef } from '../auth/actor';

export type LifecycleClient = WorkflowAccess;

export interface StartRunOptions {
  /** A given id (e.g. derived from an incoming event's id) makes a repeated start join the first. */
  runId?: string;
  policyId?: string;
  dryRun?: boolean;
  /** Catalog rows per batch (1..1000, default 1000). */
  batchSize?: number;
  /** Continue as new after this many history events (default 2000). */
  historyLimit?: number;
}

/**
 * How long the API waits for Temporal to start a run's workflow, its row's transaction open meanwhile
 * (a Temporal that cannot be reached gives up sooner: TEMPORAL_RETRY_BUDGET_MS).
 */
export const START_DEADLINE_MS = 10_000;

/**
 * Starts lifecycle-{run_id} acting for `actor`, its row written in the same transaction and committed
 * only once the workflow has started: a starter that dies before the commit leaves no row (the
 * workflow it may have started finds none and fails at once, lib/lifecycle/runRows.ts beginRun), and
 * a start that fails leaves none either. Answers the row (status pending or later).
 */
export async function startLifecycleRun(lc: LifecycleClient, actor: ActorRef, opts: StartRunOptions = {}): Promise<LifecycleRunRow> {
  if (opts.policyId) await getPolicy(lc.db, opts.policyId);
  const runId = opts.runId ?? uuidv7();
  await withStartSlot(lc.db, () =>
    lc.db.transaction(async (trx) => {
      await insertStartingRun(trx, { id: runId, policyId: opts.policyId, trigger: 'api', dryRun: opts.dryRun ?? false, batchSize: opts.batchSize, actor });
      // A repeated start (the same given id) joins the workflow of the first.
      await lc.client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        lc.client.workflow.start<typeof lifecycleSweepWorkflow>('lifecycleSweepWorkflow', {
          workflowId: lifecycleWorkflowId(runId),
          taskQueue: lc.taskQueue,
          args: [{ runId, historyLimit: opts.historyLimit, actor: actorRef(actor) }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          typedSearchAttributes: runSearchAttributes({ operation: lifecycleOperation, actor }),
        }),
      );
    }),
  );
  return getRun(lc.db, runId);
}

/**
 * How many starts one pool lets hold a connection at once: each holds its own until Temporal answers
 * (up to START_DEADLINE_MS while it hangs), and a burst of them must leave the rest of the pool to
 * everything else. Beyond it, a start is refused at once (503, Retry-After), before taking any.
 */
export const STARTS_IN_FLIGHT = 2;
const START_RETRY_SECONDS = 1;

async function withStartSlot<T>(pool: object, start: () => Promise<T>): Promise<T> {
  const slot = inFlightBoundOf('lifecycle starts', pool, STARTS_IN_FLIGHT).take();
  if (!slot) {
    throw new ServiceUnavailableError(
      `${STARTS_IN_FLIGHT} lifecycle runs are already starting here (waiting for Temporal): nothing was started; try again in ${START_RETRY_SECONDS} s`,
      START_RETRY_SECONDS,
    );
  }
  try {
    return await start();
  } finally {
    slot.release();
  }
}

const ENDED_WITHOUT_RECORDING = ['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

/**
 * The run's row. While it says pending or running, its workflow is asked: one that ended without
 * recording it (terminated, timed out), or none long after a pending row was written, makes the run failed. Temporal being unreachable leaves the row as it is.
 */
export async function readLifecycleRun(lc: LifecycleClient, runId: string): Promise<LifecycleRunRow> {
  const row = await getRun(lc.db, runId);
  if (row.status !== 'pending' && row.status !== 'running') return row;
  let ended: string | undefined;
  try {
    const status = (await lc.client.workflow.getHandle(row.workflow_id).describe()).status.name;
    if (ENDED_WITHOUT_RECORDING.includes(status)) ended = `the sweep's workflow ${status.toLowerCase().replace('_', ' ')}`;
  } catch (err) {
    // A scheduled run's row is written just before its workflow starts: a pending run is missing it
    // for a moment, but not for PENDING_WITHOUT_WORKFLOW_MS.
    if (err instanceof WorkflowNotFoundError) {
      if (row.status === 'running') ended = "the sweep's workflow no longer exists";
      else if (Date.now() - row.created_at.getTime() > PENDING_WITHOUT_WORKFLOW_MS) ended = "the sweep's workflow never started";
    }
  }
  if (!ended) return row;
  await failRun(lc.db, runId, ended);
  return getRun(lc.db, runId);
}
