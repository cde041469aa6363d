import { workflowInfo } from '@temporalio/workflow';

const DEFAULT_HISTORY_LIMIT = 2000;

/**
 * Whether a long run should continue as new before its next step: its history has `historyLimit`
 * events (default 2000; tests make it small), or the server suggests it.
 */
export function continueAsNewDue(historyLimit = DEFAULT_HISTORY_LIMIT): boolean {
  const info = workflowInfo();
  return info.historyLength >= historyLimit || info.continueAsNewSuggested;
}
