import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { mapLimit } from '../lib/platform/concurrency';
import { ConflictError, NotFoundError } from '../lib/platform/errors';
import { deleteKeys } from '../lib/platform/storedObjects';
import {
  beginRun,
  commitWorkflowBatch,
  completeRun,
  countsOf,
  expireAssetsBatch,
  expireVersionsBatch,
  failRun,
  insertRun,
  nextPurgeBatch,
  nextUploadBatch,
  type BatchOutcome,
  type LifecycleCounts,
  type LifecyclePhase,
  type PurgeCandidate,
  type UploadCandidate,
  type VersionCandidate,
  type WorkflowBatch,
} from '../lib/lifecycle/sweep';
import { selectVersionsById } from '../lib/assets/store';
import { LifecycleFailure } from '../workflows/lifecycle/definitions';
import type { ActivityDeps } from './deps';
import { auditWriterOf, pruneAuditLog } from '../lib/audit/log';
import { SYSTEM_ACTOR_REF } from '../workflows/shared/actor';
import { RETIRING_VERSION_COLUMNS, handOffToBackups, handoffDepsOf, markVersionsDeleting, type RetiringVersion } from '../lib/backups/handoff';
import { pruneEndedRows, type RowsRemoved } from '../lib/lifecycle/tableRetention';
import { failStrandedRuns } from '../lib/lifecycle/strandedRuns';
import { getRun } from '../lib/lifecycle/sweep';

/** A looping activity returns after about this long, so its workflow can continue as new between calls. */
const STEP_BUDGET_MS = 20_000;
/**
 * A batch's objects go in DeleteObjects requests of this many keys (S3 takes up to 1000), a few at
 * once: SeaweedFS works through one request's keys one after another.
 */
const DELETE_CHUNK = 250;
const DELETES_IN_FLIGHT = 4;

/** A run that is not there fails the sweep for good (LifecycleFailure.runNotFound, not retried). */
function permanent<T>(work: () => Promise<T>): Promise<T> {
  return work().catch((err) => {
    if (err instanceof NotFoundError) throw ApplicationFailure.create({ type: LifecycleFailure.runNotFound, message: err.message, nonRetryable: true });
    throw err;
  });
}

/** The versions' objects go, after they are marked and handed to running backups (lib/backups/handoff.ts). */
async function retireVersions(deps: ActivityDeps, candidates: VersionCandidate[]): Promise<void> {
  const ids = candidates.map((c) => c.id);
  await markVersionsDeleting(deps.db, ids);
  const versions = await selectVersionsById<RetiringVersion>(deps.db, ids, RETIRING_VERSION_COLUMNS);
  await handOffToBackups(handoffDepsOf(deps), versions, () => Context.current().heartbeat());
  const keys = candidates.map((c) => c.object_key);
  const chunks: string[][] = [];
  for (let i = 0; i < keys.length; i += DELETE_CHUNK) chunks.push(keys.slice(i, i + DELETE_CHUNK));
  await mapLimit(chunks, DELETES_IN_FLIGHT, (chunk) => deleteKeys(deps.s3, deps.config.s3.bucket, chunk));
}

/** Runs batches until the phase ends or the time budget is spent, heartbeating after each one. */
async function loop(
  { logger, assetCache }: ActivityDeps,
  runId: string,
  batch: () => Promise<BatchOutcome>,
  phase: LifecyclePhase,
): Promise<{ phase: LifecyclePhase; processed: number }> {
  const ctx = Context.current();
  const deadline = Date.now() + STEP_BUDGET_MS;
  let processed = 0;
  for (;;) {
    const outcome = await permanent(batch);
    await assetCache?.invalidate(outcome.changed ?? []);
    processed += outcome.processed;
    ctx.heartbeat({ phase: outcome.phase, processed });
    if (outcome.phase !== phase || Date.now() >= deadline || ctx.cancellationSignal.aborted) {
      logger.debug('lifecycle step', { run_id: runId, phase, processed, next_phase: outcome.phase });
      return { phase: outcome.phase, processed };
    }
  }
}

/** The run row of a sweep the schedule started (the API writes its own before it starts one). */
async function createScheduledRun({ db }: ActivityDeps, runId: string): Promise<void> {
  await insertRun(db, { id: runId, trigger: 'schedule', dryRun: false, actor: SYSTEM_ACTOR_REF });
}

/** Fixes the run's clock and plan (once) and answers the phase to resume from. */
async function beginLifecycleRun(
  { config, db }: ActivityDeps,
  { runId, asOf }: { runId: string; asOf: string },
): Promise<{ phase: LifecyclePhase; dryRun: boolean }> {
  const run = await permanent(() =>
    beginRun(db, runId, new Date(asOf), { version_retention_days: config.versions.retentionDays, max_versions: config.versions.max }),
  ).catch((err) => {
    // A run failed before it began (lib/lifecycle/sweepRuns.ts readLifecycleRun) is not begun again.
    if (err instanceof ConflictError) throw ApplicationFailure.create({ type: 'LifecycleRunEnded', message: err.message, nonRetryable: true });
    throw err;
  });
  return { phase: run.phase, dryRun: run.dry_run };
}

function nextUploads({ db }: ActivityDeps, runId: string): Promise<WorkflowBatch<UploadCandidate>> {
  return permanent(() => nextUploadBatch(db, runId));
}

function nextPurges({ db }: ActivityDeps, runId: string): Promise<WorkflowBatch<PurgeCandidate>> {
  return permanent(() => nextPurgeBatch(db, runId));
}

type WorkflowBatchDone = { runId: string; phase: 'uploads' | 'purge'; step: number; cursor: { at: string; id: string }; counts: Partial<LifecycleCounts> };

async function commitLifecycleBatch({ db }: ActivityDeps, input: WorkflowBatchDone): Promise<void> {
  await commitWorkflowBatch(db, input.runId, input);
}

function expireAssets(deps: ActivityDeps, runId: string) {
  return loop(deps, runId, () => expireAssetsBatch(deps.db, runId, auditWriterOf(deps.config.audit.enabled)), 'assets');
}

function expireVersions(deps: ActivityDeps, runId: string) {
  const retire = (versions: VersionCandidate[]) => retireVersions(deps, versions);
  return loop(deps, runId, () => expireVersionsBatch(deps.db, runId, retire, auditWriterOf(deps.config.audit.enabled)), 'versions');
}

/**
 * Ends the run. A real run of the global settings (not of one policy) also applies the audit log's
 * retention, the database's (npm run setup writes it); what one budget leaves, the next run removes.
 */
async function completeLifecycleRun({ db, logger }: ActivityDeps, runId: string): Promise<LifecycleCounts> {
  const run = await completeRun(db, runId);
  if (!run.dry_run && run.plan?.global) {
    const removed = await pruneAuditLog(db, Date.now() + STEP_BUDGET_MS);
    if (removed) logger.info('audit rows past retention removed', { run_id: runId, removed });
  }
  return { ...countsOf(run), purges_failed: Number(run.purges_failed ?? 0) };
}

/** Whether the workflow still runs, asked of Temporal over the worker's connection; one it no longer has is not. */
async function workflowIsRunning(workflowId: string): Promise<boolean> {
  try {
    return (await Context.current().client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/**
 * The tables' retention (lib/lifecycle/tableRetention.ts), on a real run of the global settings only
 * (like the audit log's), within one step's budget: what it leaves, the next run removes. Runs that no
 * workflow runs are failed first (lib/lifecycle/strandedRuns.ts), so that they end, and age into it.
 */
async function pruneEndedTableRows({ db, config, logger }: ActivityDeps, runId: string): Promise<RowsRemoved | null> {
  const run = await permanent(() => getRun(db, runId));
  if (run.dry_run || !run.plan?.global) return null;
  const ctx = Context.current();
  const deadline = Date.now() + STEP_BUDGET_MS;
  const stranded = await failStrandedRuns({ db, isRunning: workflowIsRunning, heartbeat: () => ctx.heartbeat() }, deadline);
  if (stranded.failed) logger.info('runs no workflow runs failed', { run_id: runId, ...stranded });
  const removed = await pruneEndedRows({ db, config, isRunning: workflowIsRunning, heartbeat: () => ctx.heartbeat() }, deadline);
  logger.info('ended rows past retention removed', { run_id: runId, ...removed });
  return removed;
}

async function failLifecycleRun({ db }: ActivityDeps, { runId, error }: { runId: string; error: string }): Promise<void> {
  await failRun(db, runId, error);
}

export function createLifecycleActivities(deps: ActivityDeps) {
  return {
    createScheduledRun: (runId: string) => createScheduledRun(deps, runId),
    beginLifecycleRun: (input: { runId: string; asOf: string }) => beginLifecycleRun(deps, input),
    nextUploadBatch: (runId: string) => nextUploads(deps, runId),
    nextPurgeBatch: (runId: string) => nextPurges(deps, runId),
    commitLifecycleBatch: (input: WorkflowBatchDone) => commitLifecycleBatch(deps, input),
    expireAssets: (runId: string) => expireAssets(deps, runId),
    expireVersions: (runId: string) => expireVersions(deps, runId),
    pruneEndedTableRows: (runId: string) => pruneEndedTableRows(deps, runId),
    completeLifecycleRun: (runId: string) => completeLifecycleRun(deps, runId),
    failLifecycleRun: (input: { runId: string; error: string }) => failLifecycleRun(deps, input),
  };
}

export type LifecycleActivities = ReturnType<typeof createLifecycleActivities>;
