import type { WorkflowAccess } from '../lib/platform/temporal';
import type { AppDeps } from './deps';

export function workflowAccessOf(deps: AppDeps): WorkflowAccess {
  return { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
}
