import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import path from 'node:path';
import { createActivities, type ActivityDeps } from '../activities';

export const WORKFLOWS_PATH = path.resolve(__dirname, '..', 'workflows');

export interface StorageWorkerOptions extends ActivityDeps {
  connection: NativeConnection;
  taskQueue?: string;
  /** A bundle made once (tests) instead of bundling at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export function createStorageWorker(opts: StorageWorkerOptions): Promise<Worker> {
  const { connection, workflowBundle, taskQueue, ...deps } = opts;
  return Worker.create({
    connection,
    namespace: deps.config.temporal.namespace,
    taskQueue: taskQueue ?? deps.config.temporal.taskQueue,
    activities: createActivities(deps),
    ...(workflowBundle ? { workflowBundle } : { workflowsPath: require.resolve(WORKFLOWS_PATH) }),
    shutdownGraceTime: '10s',
    // A run keeps its workflow task, and the task its slot, while one of its local activities runs or
    // backs off in the worker (workflows/uploads/workflow.ts bounds that to seconds per step). Many more task
    // slots than the default 40 leave room for every other run while a burst of uploads retries its
    // catalog steps locally; the local activities, which all share the database pool, are fewer.
    maxConcurrentWorkflowTaskExecutions: 200,
    maxConcurrentLocalActivityExecutions: 50,
    maxConcurrentActivityTaskExecutions: 100,
  });
}
