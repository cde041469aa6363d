/**
 * Backups and restores whose run will never end them (issue 26, finding 9): a row left `pending`
 * because the API died before it started the run, or because marking a failed start failed too
 * (`startJobWorkflow` swallows that error), or a row `pending` or `running` whose run ended without
 * recording it. Such a row would stay open for ever, and an open restore keeps its backup from expiry.
 * The retention sweep's expiry step (activities/backups/retention.ts) marks them failed first, once
 * they are older than ABANDONED_AFTER_MS: a row that young may still be about to get its run.
 */
import type { Knex } from 'knex';
import type { Logger } from '../platform/logger';
import { failJob } from './catalog';
import { openJobsCreatedBefore } from './store';

/** An open job's run has had this long to start since its row was written. */
export const ABANDONED_AFTER_MS = 10 * 60_000;
/** Jobs looked at per sweep (each costs one describe). */
const JOBS_PER_SWEEP = 100;

/** Statuses of a run that ended without recording its end in its row. */
export const ENDED_WITHOUT_RECORDING = ['FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT'];

/**
 * The status of the run `workflowId` (Temporal's name, e.g. RUNNING), or undefined when Temporal has
 * no such run. Throws when Temporal cannot be asked: the rows are then left as they are.
 */
export type RunStatusOf = (workflowId: string) => Promise<string | undefined>;

/** Marks failed the open jobs older than ABANDONED_AFTER_MS whose run does not exist or has ended; answers how many. */
export async function failAbandonedJobs(db: Knex, runStatusOf: RunStatusOf, logger: Logger): Promise<number> {
  const jobs = await openJobsCreatedBefore(db, ABANDONED_AFTER_MS / 1000, JOBS_PER_SWEEP);
  let failed = 0;
  for (const job of jobs) {
    const status = await runStatusOf(job.workflow_id);
    const why =
      status === undefined
        ? `its workflow ${job.workflow_id} does not exist (never started, or gone): the ${job.kind} was abandoned`
        : ENDED_WITHOUT_RECORDING.includes(status)
          ? `its workflow ${job.workflow_id} ${status.toLowerCase().replace('_', ' ')}`
          : undefined;
    if (!why) continue;
    // Only a row still open is failed: a run that recorded its end just now keeps it.
    await failJob(db, job.id, why);
    logger.warn(`abandoned ${job.kind} marked failed`, { [`${job.kind}_id`]: job.id, status: job.status, reason: why });
    failed++;
  }
  return failed;
}
