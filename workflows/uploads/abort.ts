import { ApplicationFailure, getExternalWorkflowHandle } from '@temporalio/workflow';
import { abortSignal } from './definitions';

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
