/**
 * Runs whose row says pending or running while no workflow runs them: a row an older API wrote before
 * its start (not with it, as lib/lifecycle/sweepRuns.ts does now) and died in between, a scheduled
 * run's whose parent was stopped between writing it and starting its child, a run whose workflow was
 * terminated. Reading
 * such a run fails it (readLifecycleRun); the lifecycle sweep fails the rest, so that none stays
 * pending or running in the list for ever, nor out of the tables' retention (which takes ended runs only).
 */
import type { Knex } from 'knex';
import { failRun } from './runRows';
import { PENDING_WITHOUT_WORKFLOW_MS } from './runs';
import { selectUnendedRunsBefore } from './store';

const BATCH = 100;

export interface StrandedRunsDeps {
  db: Knex;
  /** Whether the workflow of that id is still running (false: closed, or gone from Temporal). */
  isRunning(workflowId: string): Promise<boolean>;
  /** Called after each batch. */
  heartbeat(): void;
}

/**
 * Fails each run not ended, written PENDING_WITHOUT_WORKFLOW_MS or longer ago, whose workflow does not
 * run, until done or `deadline` (epoch ms); answers how many it failed. A workflow that ends records
 * its run's end before it closes, so a closed one left its run for good.
 */
export async function failStrandedRuns(deps: StrandedRunsDeps, deadline: number, now = Date.now()): Promise<{ failed: number; more: boolean }> {
  const before = new Date(now - PENDING_WITHOUT_WORKFLOW_MS);
  let after: string | null = null;
  let failed = 0;
  for (;;) {
    if (Date.now() >= deadline) return { failed, more: true };
    const runs = await selectUnendedRunsBefore(deps.db, before, after, BATCH);
    for (const run of runs) {
      if (await deps.isRunning(run.workflow_id)) continue;
      // Only a run still pending or running is failed (failRun): one that ended meanwhile keeps its end.
      await failRun(deps.db, run.id, "the sweep's workflow is not running: it never started, or it ended without recording it");
      failed++;
    }
    deps.heartbeat();
    if (runs.length < BATCH) return { failed, more: false };
    after = runs[runs.length - 1].id;
  }
}
