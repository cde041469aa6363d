/**
 * The API's side of lifecycle runs: start one now, and read one with its status reconciled against
 * its workflow (a run whose workflow was terminated could not record that itself).
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { lifecycleSweepWorkflow } from '../../workflows/lifecycle/sweep';
import { lifecycleOperation } from '../../workflows/lifecycle/definitions';
import { getPolicy } from './policies';
import { failRun, getRun, insertRun } from './runRows';
import type { LifecycleRunRow } from './runs';
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

/** Writes the run's row, then starts lifecycle-{run_id} acting for `actor`; answers the row (status pending or later). */
export async function startLifecycleRun(lc: LifecycleClient, actor: ActorRef, opts: StartRunOptions = {}): Promise<LifecycleRunRow> {
  if (opts.policyId) await getPolicy(lc.db, opts.policyId);
  const runId = await insertRun(lc.db, {
    id: opts.runId,
    policyId: opts.policyId,
    trigger: 'api',
    dryRun: opts.dryRun ?? false,
    batchSize: opts.batchSize,
    actor,
  });
  const row = await getRun(lc.db, runId);
  try {
    await lc.client.workflow.start<typeof lifecycleSweepWorkflow>('lifecycleSweepWorkflow', {
      workflowId: row.workflow_id,
      taskQueue: lc.taskQueue,
      args: [{ runId, historyLimit: opts.historyLimit, actor: actorRef(actor) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: runSearchAttributes({ operation: lifecycleOperation, actor }),
    });
  } catch (err) {
    await failRun(lc.db, runId, `the sweep could not be started: ${err instanceof Error ? err.message : String(err)}`).catch(() => {});
    throw err;
  }
  return getRun(lc.db, runId);
}

const ENDED_WITHOUT_RECORDING = ['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

/**
 * The run's row. While it says pending or running, its workflow is asked: one that ended without
 * recording it (terminated, timed out) makes the run failed. Temporal being unreachable leaves the row as it is.
 */
export async function readLifecycleRun(lc: LifecycleClient, runId: string): Promise<LifecycleRunRow> {
  const row = await getRun(lc.db, runId);
  if (row.status !== 'pending' && row.status !== 'running') return row;
  let ended: string | undefined;
  try {
    const status = (await lc.client.workflow.getHandle(row.workflow_id).describe()).status.name;
    if (ENDED_WITHOUT_RECORDING.includes(status)) ended = `the sweep's workflow ${status.toLowerCase().replace('_', ' ')}`;
  } catch (err) {
    // A scheduled run's row is written just before its workflow starts: only a running run is missing it.
    if (err instanceof WorkflowNotFoundError && row.status === 'running') ended = "the sweep's workflow no longer exists";
  }
  if (!ended) return row;
  await failRun(lc.db, runId, ended);
  return getRun(lc.db, runId);
}
