/**
 * What lifecycleSweepWorkflow, its client and its activities share. Only types and plain values, so
 * the workflow bundle, the API and the activities can all import it.
 */

/** Failure types the sweep's activities raise and its retry policy does not retry. */
export const LifecycleFailure = { runNotFound: 'LifecycleRunNotFound' } as const;

/** A run's workflow is named after it. */
export function lifecycleWorkflowId(runId: string): string {
  return `lifecycle-${runId}`;
}
