/**
 * A lifecycle run whose starter dies (the consistency soak's API killed between writing a run's row
 * and starting its workflow): the run is there with its workflow or not at all, never a row pending
 * for ever; a workflow whose row never came ends at once; a row left pending by a starter of before
 * this fix reads as failed once it is clearly not starting, and its workflow never begins it.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { uuidv7 } from '../lib/platform/ids';
import { lifecycleWorkflowId } from '../workflows/lifecycle/definitions';
import { PENDING_WITHOUT_WORKFLOW_MS } from '../lib/lifecycle/runs';
import { startLifecycleRun } from '../lib/lifecycle/sweepRuns';
import { TEST_ADMIN } from './support/auth';
import { waitUntil } from './support/processes';
import { useTestService } from './support/context';
import { call } from './support/http';
import { clientWithStart, killStarterAt } from './support/lifecycleStarter';
import { runSweep } from './support/lifecycle';

const ctx = useTestService();
const insert = (id: string, createdAt: Date, status = 'pending') =>
  ctx.db('lifecycle_runs').insert({ id, trigger: 'api', dry_run: true, status, workflow_id: lifecycleWorkflowId(id), batch_size: 1000, created_at: createdAt });
const longAgo = () => new Date(Date.now() - PENDING_WITHOUT_WORKFLOW_MS - 60_000);
const runUrl = (id: string) => `${ctx.baseUrl}/api/v2/lifecycle/runs/${id}`;

async function listedIds(): Promise<string[]> {
  const page = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs?limit=100`);
  expect(page.status).toBe(200);
  return (page.body as { items: Array<{ id: string }> }).items.map((run) => run.id);
}

async function workflowExists(workflowId: string): Promise<boolean> {
  try {
    await ctx.temporal.client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** The failure type of the activity that ended the workflow. */
async function failureTypeOf(workflowId: string): Promise<string | undefined> {
  const err = await ctx.temporal.client.workflow
    .getHandle(workflowId)
    .result()
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  let cause = (err as Error).cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as Error).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

describe('a starter killed part-way through a run start', () => {
  it('before its workflow starts: no run is there, nothing pending for ever, and the next POST is answered with its row', async () => {
    const runId = uuidv7();
    await killStarterAt(ctx.config, runId, 'before-start');

    expect((await call(runUrl(runId))).status).toBe(404);
    expect(await listedIds()).not.toContain(runId);
    expect(await ctx.db('lifecycle_runs').where({ id: runId })).toEqual([]);
    expect(await workflowExists(lifecycleWorkflowId(runId))).toBe(false);

    // A start that lives through it answers its row, which the GET reads back.
    const started = await call(`${ctx.baseUrl}/api/v2/lifecycle/runs`, { method: 'POST', json: { dry_run: true } });
    expect(started.status).toBe(202);
    const run = started.body as { id: string; status: string };
    expect(['pending', 'running', 'completed']).toContain(run.status);
    await ctx.temporal.client.workflow.getHandle(lifecycleWorkflowId(run.id)).result();
    expect((await call(runUrl(run.id))).body).toMatchObject({ id: run.id, status: 'completed' });
  });

  it('after its workflow starts, before the row commits: the workflow finds no run and fails at once, not retried, and no run is there', async () => {
    const runId = uuidv7();
    await killStarterAt(ctx.config, runId, 'after-start');

    expect(await failureTypeOf(lifecycleWorkflowId(runId))).toBe('LifecycleRunNotFound');
    expect((await call(runUrl(runId))).status).toBe(404);
    expect(await listedIds()).not.toContain(runId);
    expect(await ctx.db('lifecycle_runs').where({ id: runId })).toEqual([]);
  });
});

describe('a starter slow to commit', () => {
  it('its workflow, begun before the row commits, waits for it and runs', async () => {
    // Someone waits on an advisory lock in this file's database: the workflow's first step, on the run's start lock.
    const beginWaits = async () =>
      (
        await ctx.db.raw(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        )
      ).rows[0].n > 0;
    const client = clientWithStart(ctx.temporal.client, async (start) => {
      const started = (await start()) as { workflowId: string };
      await waitUntil('the workflow to wait for its row', async () => {
        if (await beginWaits()) return true;
        // Without the wait it would read no row and fail: say so at once.
        const { status } = await ctx.temporal.client.workflow.getHandle(started.workflowId).describe();
        if (status.name !== 'RUNNING') throw new Error(`the workflow ended (${status.name}) before its row committed`);
        return false;
      });
      return started;
    });
    const run = await startLifecycleRun({ client, taskQueue: ctx.config.temporal.taskQueue, db: ctx.db }, TEST_ADMIN, { dryRun: true });
    expect(run.status).toMatch(/pending|running|completed/);
    await ctx.temporal.client.workflow.getHandle(run.workflow_id).result();
    expect((await call(runUrl(run.id))).body).toMatchObject({ id: run.id, status: 'completed', error: null });
  });
});

describe('a pending row without a workflow (left by a starter before this fix)', () => {
  it('reads as pending while its workflow may still start, failed once it is clearly not starting; its workflow then does not begin it', async () => {
    const insert = (id: string, createdAt: Date) =>
      ctx
        .db('lifecycle_runs')
        .insert({ id, trigger: 'api', dry_run: true, status: 'pending', workflow_id: lifecycleWorkflowId(id), batch_size: 1000, created_at: createdAt });
    const fresh = uuidv7();
    const stale = uuidv7();
    await insert(fresh, new Date());
    await insert(stale, longAgo());

    expect((await call(runUrl(fresh))).body).toMatchObject({ status: 'pending' });
    const read = await call(runUrl(stale));
    expect(read.body).toMatchObject({ status: 'failed', error: expect.stringMatching(/never started/) });
    expect(await ctx.db('lifecycle_runs').where({ id: stale }).first()).toMatchObject({ status: 'failed' });

    // Its workflow, were it to start after all, ends without running the run.
    await ctx.temporal.client.workflow.start('lifecycleSweepWorkflow', {
      workflowId: lifecycleWorkflowId(stale),
      taskQueue: ctx.config.temporal.taskQueue,
      args: [{ runId: stale }],
    });
    expect(await failureTypeOf(lifecycleWorkflowId(stale))).toBe('LifecycleRunEnded');
    expect(await ctx.db('lifecycle_runs').where({ id: stale }).first()).toMatchObject({ status: 'failed', plan: null, started_at: null });
  });
});

describe('the lifecycle sweep', () => {
  it('fails the runs no workflow runs, pending or running, once clearly stranded, without anyone reading them; a fresh pending row stays', async () => {
    const [fresh, stalePending, staleRunning] = [uuidv7(), uuidv7(), uuidv7()];
    await insert(fresh, new Date());
    await insert(stalePending, longAgo());
    await insert(staleRunning, longAgo(), 'running');

    const sweep = await runSweep(ctx);
    expect(sweep.status).toBe('completed');
    const statusOf = async (id: string) => (await ctx.db('lifecycle_runs').where({ id }).first()).status;
    expect(await statusOf(fresh)).toBe('pending');
    expect(await statusOf(stalePending)).toBe('failed');
    expect(await statusOf(staleRunning)).toBe('failed');
    const listed = (await call(`${ctx.baseUrl}/api/v2/lifecycle/runs?limit=100`)).body as {
      items: Array<{ id: string; status: string; error: string | null }>;
    };
    expect(listed.items.find((run) => run.id === stalePending)).toMatchObject({ status: 'failed', error: expect.stringMatching(/not running/) });
  });
});
