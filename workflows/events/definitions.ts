/**
 * What outboxRelayWorkflow and its client (lib/events/relayRuns.ts) share. Only
 * @temporalio/workflow is imported, so both the workflow bundle and the worker can use this file.
 */
import { defineSignal } from '@temporalio/workflow';

/** Sent after commits that wrote events, so they go out without waiting for the timer. */
export const wakeSignal = defineSignal('wake');

/** The StorageOperation search attribute of the relay's run. */
export const relayOperation = 'events';

/** One relay per deployment (its task queue names it: deployments may share a namespace). */
export function outboxRelayWorkflowId(taskQueue: string): string {
  return `outbox-relay-${taskQueue}`;
}
