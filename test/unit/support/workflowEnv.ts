/**
 * The workflows against stubbed activities, in a time-skipping test server of the file's own (the
 * binary tools-requirements.txt installs; nothing is downloaded). One server, one workflow bundle and
 * one worker for test/unit/workflows.test.ts: each test names the stubs its runs call (`stub`), which
 * the worker's activities call through to.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../../lib/platform/temporal';
import '../../support/quietRuntime';

const ROOT = path.resolve(__dirname, '../../..');
const TEST_SERVER = path.join(ROOT, '.tools', 'venv', 'bin', 'temporal-test-server');
const WORKFLOWS_DIR = path.join(ROOT, 'workflows');
const BUNDLES = path.join(ROOT, '.data', 'test', 'unit-bundles');

export type Stubs = Record<string, jest.Mock>;

export interface WorkflowTestEnv {
  readonly env: TestWorkflowEnvironment;
  /** The task queue the file's worker serves. */
  readonly taskQueue: string;
  /** The activities the next runs call (an activity not named fails them). */
  stub(activities: Stubs): Stubs;
}

/**
 * Registers the file's hooks: the server and its worker start before its tests and stop after them.
 * `activityNames`: every activity the workflows under test proxy.
 */
export function useWorkflowEnv(activityNames: string[]): WorkflowTestEnv {
  const taskQueue = `unit-${process.pid}`;
  let env: TestWorkflowEnvironment | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let current: Stubs = {};
  const activities = Object.fromEntries(
    activityNames.map((name) => [
      name,
      (...args: unknown[]) => {
        if (!current[name]) throw new Error(`activity ${name} is not stubbed in this test`);
        return current[name](...args);
      },
    ]),
  );

  beforeAll(async () => {
    const [started, { code }] = await Promise.all([
      TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEST_SERVER } } }),
      workflowBundle(),
    ]);
    env = started;
    // A child started with a search attribute the server does not know never starts. (This server lists none: each is added.)
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
    });
    worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue, workflowBundle: { code }, activities });
    running = worker.run();
  }, 120_000);
  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running;
    await env?.teardown();
  });

  return {
    get env() {
      if (!env) throw new Error('the workflow environment starts in beforeAll');
      return env;
    },
    taskQueue,
    stub(stubs) {
      current = stubs;
      return stubs;
    },
  };
}

/**
 * The workflow bundle, made once per version of workflows/ (workflow code imports nothing else at run
 * time: eslint.config.mjs) and of the SDK: webpack is most of this file's time on a busy machine.
 */
async function workflowBundle(): Promise<{ code: string }> {
  const hash = createHash('sha256').update(require('@temporalio/workflow/package.json').version);
  for (const file of fs.readdirSync(WORKFLOWS_DIR, { recursive: true, encoding: 'utf8' }).sort()) {
    const full = path.join(WORKFLOWS_DIR, file);
    if (fs.statSync(full).isFile()) hash.update(file).update(fs.readFileSync(full));
  }
  const cached = path.join(BUNDLES, `${hash.digest('hex').slice(0, 16)}.js`);
  if (fs.existsSync(cached)) return { code: fs.readFileSync(cached, 'utf8') };
  const { code } = await bundleWorkflowCode({ workflowsPath: path.join(WORKFLOWS_DIR, 'index.ts'), logger: silentLogger });
  fs.mkdirSync(BUNDLES, { recursive: true });
  // Written whole under another name first: a run beside this one never reads half a bundle.
  fs.writeFileSync(`${cached}.${process.pid}`, code);
  fs.renameSync(`${cached}.${process.pid}`, cached);
  return { code };
}

const silentLogger = { log: () => {}, trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
