import type { Client } from '@temporalio/client';
import type { Knex } from 'knex';
import type { AppDeps } from './app';

/** What the API needs to start and ask workflows: lib's upload, lifecycle and deletion helpers take it. */
export interface WorkflowClient {
  client: Client;
  taskQueue: string;
  db: Knex;
}

export function workflowClientOf(deps: AppDeps): WorkflowClient {
  return { client: deps.temporal.client, taskQueue: deps.config.temporal.taskQueue, db: deps.db };
}
