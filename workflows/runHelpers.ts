/**
 * What the service's workflows share: the search attributes of the runs they start, ids from the
 * workflow's clock, when a run continues as new, what a run does with a failure, and how an upload
 * run is told to abort. Workflow code: deterministic, and it imports only the workflow SDK and types.
 */
import { ApplicationFailure, CancellationScope, ContinueAsNew, getExternalWorkflowHandle, isCancellation, uuid4, workflowInfo } from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import { SYSTEM_ACTOR_REF, type ActorRef } from './actor';
import { abortSignal } from './uploads/definitions';

// The keys of lib/platform/temporal.ts, spelled out: that module is not workflow code.
export const storageOperation = (value: string): SearchAttributePair => ({ key: { name: 'StorageOperation', type: 'KEYWORD' }, value });
export const assetIdAttribute = (value: string): SearchAttributePair => ({ key: { name: 'AssetId', type: 'KEYWORD' }, value });
export const storageActor = (actor: ActorRef = SYSTEM_ACTOR_REF): SearchAttributePair => ({ key: { name: 'StorageActor', type: 'KEYWORD' }, value: actor.sub });

/** A UUID v7 from the workflow's deterministic clock and random source (ids sort by time). */
export function uuidv7Now(): string {
  const hex = Date.now().toString(16).padStart(12, '0') + uuid4().replace(/-/g, '').slice(12);
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const DEFAULT_HISTORY_LIMIT = 2000;

/**
 * Whether a long run should continue as new before its next step: its history has `historyLimit`
 * events (default 2000; tests make it small), or the server suggests it.
 */
export function continueAsNewDue(historyLimit = DEFAULT_HISTORY_LIMIT): boolean {
  const info = workflowInfo();
  return info.historyLength >= historyLimit || info.continueAsNewSuggested;
}

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

/** What a run's row says about its failure. */
export function messageOf(err: unknown): string {
  if (isCancellation(err)) return 'cancelled';
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  // An activity's failure: its own message says what happened.
  if (cause instanceof ApplicationFailure) return cause.message;
  return cause instanceof Error ? `${err.message}: ${messageOf(cause)}` : err.message;
}

// What a signal to a run that is not running fails with. The SDK has no class for it: its core sends
// an ApplicationFailure typed after the server's cause (SignalExternalWorkflowExecutionFailedCause).
const EXTERNAL_WORKFLOW_NOT_FOUND = 'ExternalWorkflowExecutionNotFound';

/**
 * Signals abort to an upload run. Answers false when the run is not running (it has ended, or never
 * started): the caller decides what that means. Any other failure is thrown.
 */
export async function signalUploadAbort(workflowId: string): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(workflowId).signal(abortSignal);
    return true;
  } catch (err) {
    if (err instanceof ApplicationFailure && err.type === EXTERNAL_WORKFLOW_NOT_FOUND) return false;
    throw err;
  }
}
