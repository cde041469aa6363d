/**
 * What a failure means to every workflow and activity: the failure types no retry can fix, what a run
 * does with a failure, and what its row says about it. Workflow code: it imports only the SDK and types.
 */
import { ApplicationFailure, CancellationScope, ContinueAsNew, isCancellation } from '@temporalio/workflow';

/**
 * Failure types any activity raises for what no retry can fix (activities/permanentFailures.ts):
 * data PostgreSQL refuses (SQLSTATE class 22), a violated constraint (class 23).
 */
export const PermanentFailure = {
  invalidData: 'InvalidData',
  integrityViolation: 'IntegrityViolation',
} as const;

/**
 * Runs a workflow's body; on a failure `onFailure` runs (to completion, even when the run was
 * cancelled), then the failure is rethrown. Continuing as new is how a long run goes on, not a failure.
 */
export async function withFailureHandler<T>(body: () => Promise<T>, onFailure: (err: unknown) => Promise<unknown>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    await CancellationScope.nonCancellable(() => onFailure(err));
    throw err;
  }
}

/** What the row of a run that was cancelled says (POST /operations/{id}:cancel reads it back as `cancelled`). */
export const CANCELLED = 'cancelled';

/** What a run's row says about its failure. */
export function messageOf(err: unknown): string {
  if (isCancellation(err)) return CANCELLED;
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  // An activity's failure: its own message says what happened.
  if (cause instanceof ApplicationFailure) return cause.message;
  return cause instanceof Error ? `${err.message}: ${messageOf(cause)}` : err.message;
}
