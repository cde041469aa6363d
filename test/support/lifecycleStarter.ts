/**
 * An API's start of a lifecycle run (lib/lifecycle/sweepRuns.ts startLifecycleRun) in a process of its
 * own, held at a point of its start so a test can kill it (SIGKILL) there: the soak's API killed
 * between writing a run's row and starting its workflow. STORAGE_TEST_RUN_ID names the run;
 * STORAGE_TEST_HOLD is where it stops for good: `before-start` (its Temporal start never sent) or
 * `after-start` (its workflow started, the start not yet answered).
 */
import { Client, Connection, type WorkflowClient } from '@temporalio/client';
import path from 'node:path';
import { startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { loadConfig, type Config } from '../../lib/platform/config';
import { createDb } from '../../lib/platform/db';
import { TEST_ADMIN } from './auth';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './processes';

export type StartHold = 'before-start' | 'after-start';
const HELD = 'lifecycle test starter held';

async function main() {
  const config = loadConfig();
  const hold = process.env.STORAGE_TEST_HOLD as StartHold;
  const db = createDb(config.database.url, 2);
  const client = new Client({ connection: await Connection.connect({ address: config.temporal.address }), namespace: config.temporal.namespace });
  const held = clientWithStart(client, async (start) => {
    if (hold === 'after-start') await start();
    process.stdout.write(`${HELD}\n`);
    return new Promise(() => {});
  });
  await startLifecycleRun({ client: held, taskQueue: config.temporal.taskQueue, db }, TEST_ADMIN, { runId: process.env.STORAGE_TEST_RUN_ID });
}

/** The client, its workflow.start replaced by `around`, which is given the real start to call (or not). */
export function clientWithStart(client: Client, around: (start: () => Promise<unknown>) => Promise<unknown>): Client {
  const workflow: WorkflowClient = Object.create(client.workflow);
  workflow.start = ((...args: Parameters<WorkflowClient['start']>) => around(() => client.workflow.start(...args))) as WorkflowClient['start'];
  return Object.create(client, { workflow: { value: workflow } });
}

/** Starts run `runId` in a process of its own and kills it once its start reaches `hold`. */
export async function killStarterAt(config: Config, runId: string, hold: StartHold): Promise<void> {
  const proc: ServiceProcess = spawnService(
    path.relative(path.resolve(__dirname, '..', '..'), __filename),
    envFor(config, { STORAGE_TEST_RUN_ID: runId, STORAGE_TEST_HOLD: hold }),
  );
  try {
    await waitUntil(`the starter to reach ${hold}`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`the starter exited (${proc.child.exitCode}):\n${proc.output()}`);
      return proc.output().includes(HELD);
    });
  } finally {
    await proc.kill();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`lifecycle test starter failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
