/**
 * The scrub's activities (workflows/scrub/scrub.ts): its row begun, one step of its current phase at a
 * time (each within a time budget, heartbeating its cursor and resuming from the last heartbeat after a
 * retry), its completion with storage.scrub.completed, its failure.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { recordEvent } from '../../lib/events/outbox';
import { insertScrub } from '../../lib/scrub/scrubs';
import { findingTotals, markScrubCompleted, markScrubFailed, markScrubRunning, saveScrubFigures, selectScrub, type ScrubRow } from '../../lib/scrub/store';
import { TokenBucket } from '../../lib/scrub/tokenBucket';
import { SYSTEM_ACTOR_REF } from '../../workflows/shared/actor';
import {
  EMPTY_TALLY,
  NO_FINDINGS,
  SCRUB_PHASES,
  ScrubFailure,
  type ScrubPhase,
  type ScrubStepInput,
  type ScrubStepResult,
  type ScrubTally,
} from '../../workflows/scrub/definitions';
import type { ActivityDeps } from '../deps';
import { scrubBlobs, scrubManifests } from './blobs';
import { scrubMultipart, scrubObjects } from './objects';
import { scrubSample } from './sample';
import { audit, type ScrubDeps, type Step } from './step';

const DEFAULT_STEP_BUDGET_MS = 10_000;
const DEFAULT_PAGE_SIZE = 1000;

const PASSES: Record<Exclude<ScrubPhase, 'done'>, (step: Step) => Promise<boolean>> = {
  objects: scrubObjects,
  multipart: scrubMultipart,
  sample: scrubSample,
  blobs: scrubBlobs,
  manifests: scrubManifests,
};

// One budget per worker process and rate: every scrub step it runs reads within it.
const budgets = new Map<number, TokenBucket>();
function budgetOf(bytesPerSecond: number): TokenBucket {
  let budget = budgets.get(bytesPerSecond);
  if (!budget) budgets.set(bytesPerSecond, (budget = new TokenBucket(bytesPerSecond)));
  return budget;
}

export function createScrubActivities(deps: ActivityDeps) {
  return {
    createScheduledScrub: (scrubId: string) => createScheduledScrub(deps, scrubId),
    beginScrub: (scrubId: string) => beginScrub(deps, scrubId),
    scrubStep: (input: ScrubStepInput) => scrubStep(deps, input),
    completeScrub: (input: { scrubId: string; tally: ScrubTally }) => completeScrub(deps, input),
    failScrub: (input: { scrubId: string; error: string }) => failScrub(deps, input),
  };
}

export type ScrubActivities = ReturnType<typeof createScrubActivities>;

async function rowOrFail(deps: ScrubDeps, scrubId: string): Promise<ScrubRow> {
  const row = await selectScrub(deps.db, scrubId);
  if (!row) throw ApplicationFailure.create({ type: ScrubFailure.notFound, message: `scrub ${scrubId} not found`, nonRetryable: true });
  return row;
}

/** The row of a scrub the storage-scrub schedule runs: acting for the system, the configured share, not a dry run. */
async function createScheduledScrub({ config, db }: ScrubDeps, scrubId: string): Promise<void> {
  await insertScrub(db, { id: scrubId, dryRun: false, samplePercent: config.scrub.samplePercent, trigger: 'schedule', actor: SYSTEM_ACTOR_REF });
}

function tallyOf(row: ScrubRow): ScrubTally {
  return {
    counts: { ...NO_FINDINGS, ...row.counts },
    repaired: row.repaired,
    unrepairable: row.unrepairable,
    bytes_hashed: row.bytes_hashed,
    objects_listed: row.objects_listed,
  };
}

/** Marks the scrub running (once); answers where its row says it is (a run begun again resumes there). */
async function beginScrub(deps: ScrubDeps, scrubId: string): Promise<ScrubStepResult & { status: ScrubRow['status'] }> {
  await markScrubRunning(deps.db, scrubId);
  const row = await rowOrFail(deps, scrubId);
  return { status: row.status, phase: row.phase, cursor: row.cursor ?? {}, tally: row.status === 'pending' ? EMPTY_TALLY : tallyOf(row) };
}

function nextPhase(phase: ScrubPhase): ScrubPhase {
  return SCRUB_PHASES[Math.min(SCRUB_PHASES.indexOf(phase) + 1, SCRUB_PHASES.length - 1)];
}

/**
 * One step of the current phase: until the phase is done or the step budget is spent. Heartbeats its
 * position after each page and, after a retry, resumes from the last heartbeat. Saves it to the row.
 */
async function scrubStep(deps: ScrubDeps, input: ScrubStepInput): Promise<ScrubStepResult> {
  const ctx = Context.current();
  const row = await rowOrFail(deps, input.scrubId);
  if (row.status !== 'running') throw ApplicationFailure.create({ type: ScrubFailure.ended, message: `scrub ${row.id} is ${row.status}`, nonRetryable: true });
  const resumed = ctx.info.heartbeatDetails as ScrubStepResult | undefined;
  const at: ScrubStepResult = resumed?.phase === input.phase && resumed.tally ? resumed : { phase: input.phase, cursor: input.cursor, tally: input.tally };
  if (at.phase === 'done') return at;
  const step: Step = {
    deps,
    row,
    cursor: at.cursor,
    tally: { ...at.tally, counts: { ...at.tally.counts } },
    deadline: Date.now() + (input.tuning?.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS),
    pageSize: input.tuning?.pageSize ?? DEFAULT_PAGE_SIZE,
    reader: {
      s3: deps.s3,
      db: deps.db,
      assetBucket: deps.config.s3.bucket,
      backupBucket: deps.config.s3.backupBucket,
      budget: budgetOf(deps.config.scrub.maxBytesPerSecond),
      signal: ctx.cancellationSignal,
      beat: () => step.beat(),
      hashed: (bytes) => (step.tally.bytes_hashed += bytes),
    },
    beat: () => ctx.heartbeat({ phase: at.phase, cursor: step.cursor, tally: step.tally } satisfies ScrubStepResult),
  };
  step.beat();
  const done = await PASSES[at.phase](step);
  const result: ScrubStepResult = done
    ? { phase: nextPhase(at.phase), cursor: {}, tally: step.tally }
    : { phase: at.phase, cursor: step.cursor, tally: step.tally };
  await saveScrubFigures(deps.db, row.id, { phase: result.phase, cursor: result.cursor, ...result.tally });
  return result;
}

/** The tally with its findings counted from their rows (what a lost attempt found counts once). */
async function countedTally(deps: ScrubDeps, scrubId: string, tally: ScrubTally): Promise<ScrubTally> {
  const totals = await findingTotals(deps.db, scrubId);
  return { ...tally, counts: { ...NO_FINDINGS, ...totals.counts }, repaired: totals.repaired, unrepairable: totals.unrepairable };
}

/** Completes the row with its figures, storage.scrub.completed and its audit row: once. */
async function completeScrub(deps: ScrubDeps, input: { scrubId: string; tally: ScrubTally }): Promise<void> {
  const row = await rowOrFail(deps, input.scrubId);
  const tally = await countedTally(deps, row.id, input.tally);
  const completed = await deps.db.transaction(async (trx) => {
    if (!(await markScrubCompleted(trx, row.id, { phase: 'done', cursor: {}, ...tally }))) return false;
    await recordEvent(trx, 'storage.scrub.completed', row.id, {
      scrub_id: row.id,
      dry_run: row.dry_run,
      sample_percent: row.sample_percent,
      trigger: row.trigger,
      ...tally,
    });
    await audit({ deps, row }, trx, { action: 'scrub.complete', outcome: row.dry_run ? 'completed (dry run)' : 'completed' });
    return true;
  });
  if (completed) deps.logger.info('scrub completed', { scrub_id: row.id, dry_run: row.dry_run, ...tally.counts, repaired: tally.repaired });
}

async function failScrub(deps: ScrubDeps, input: { scrubId: string; error: string }): Promise<void> {
  await markScrubFailed(deps.db, input.scrubId, input.error);
}
