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
  });
}
