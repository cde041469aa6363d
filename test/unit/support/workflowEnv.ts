/**
 * The workflows against stubbed activities, in a time-skipping test server of their own (the binary
 * tools-requirements.txt installs; nothing is downloaded): one server per file, one worker per test.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import path from 'node:path';
import '../../support/quietRuntime';

const ROOT = path.resolve(__dirname, '../../..');
const TEST_SERVER = path.join(ROOT, '.tools', 'venv', 'bin', 'temporal-test-server');
const WORKFLOWS_PATH = path.join(ROOT, 'workflows', 'index.ts');

export type Stubs = Record<string, jest.Mock>;

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  /** Runs `body` while a worker with `activities` serves a task queue of its own. */
  withWorker<T>(activities: Stubs, body: (taskQueue: string) => Promise<T>): Promise<T>;
}

let queues = 0;

/** Registers the file's hooks: the server starts before its tests and stops after them. */
export function useWorkflowEnv(): WorkflowTestEnv {
  let env: TestWorkflowEnvironment | undefined;
  let bundle: WorkflowBundle | undefined;
  beforeAll(async () => {
    [env, bundle] = await Promise.all([
      TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: TEST_SERVER } },
      }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger }).then(({ code }) => ({ code })),
    ]);
  }, 120_000);
  afterAll(async () => {
    await env?.teardown();
  });
  return {
    get env() {
      if (!env) throw new Error('the workflow environment starts in beforeAll');
      return env;
    },
    async withWorker(activities, body) {
      const taskQueue = `unit-${++queues}`;
      const worker = await Worker.create({
        connection: this.env.nativeConnection,
        namespace: this.env.namespace,
        taskQueue,
        workflowBundle: bundle,
        activities,
      });
      return worker.runUntil(body(taskQueue));
    },
  };
}

const silentLogger = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
