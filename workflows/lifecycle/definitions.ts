/**
 * What lifecycleSweepWorkflow, scheduledLifecycleWorkflow, their clients and their activities share.
 * Only types and plain values, so the workflow bundle, the API and the activities can all import it.
 */
import type { ActsFor } from '../shared/actor';

export interface LifecycleSweepInput extends ActsFor {
  /** The run (its row exists). */
  runId: string;
  /** Continue as new once the history has this many events (default 2000). */
  historyLimit?: number;
}

export interface LifecycleSweepResult {
  runId: string;
  counts: {
    versions_expired: number;
    assets_expired: number;
    assets_purged: number;
    uploads_aborted: number;
    bytes_freed: number;
    /** Purges that failed past their deletion's retry bounds (their assets stay hidden; a later run picks them again). */
    purges_failed?: number;
  };
}

/** Failure types the sweep's activities raise and its retry policy does not retry. */
export const LifecycleFailure = { runNotFound: 'LifecycleRunNotFound' } as const;

/** A run's workflow is named after it. */
export function lifecycleWorkflowId(runId: string): string {
  return `lifecycle-${runId}`;
}

/** The StorageOperation search attribute of a sweep's run and of the schedule's. */
export const lifecycleOperation = 'lifecycle';
