import type { ActivityOptions } from '@temporalio/workflow';

/**
 * The bounds of a long job's steps (docs/operations.md, "Retry bounds"): 30 attempts are about 13 minutes of backoff,
 * enough to ride out a restart of the database or a store; a step still failing then fails the run,
 * whose row says why. `catalog` steps are short; `streaming` steps return after their budget but one
 * large object may take its time, and their heartbeat tells a stuck step from a slow one.
 */
export function boundedSteps(nonRetryableErrorTypes: string[]) {
  const retry: ActivityOptions['retry'] = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 30, nonRetryableErrorTypes };
  return {
    catalog: { startToCloseTimeout: '2 minutes', scheduleToCloseTimeout: '30 minutes', retry },
    streaming: { startToCloseTimeout: '2 hours', scheduleToCloseTimeout: '6 hours', heartbeatTimeout: '30 seconds', retry },
  } satisfies Record<string, ActivityOptions>;
}
