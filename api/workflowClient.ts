import type { WorkflowClient } from '../lib/platform/temporal';
import type { AppDeps } from './deps';

export function workflowClientOf(deps: AppDeps): WorkflowClient {
  return { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
}
