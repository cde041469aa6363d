/**
 * A worker in a process of its own, so a test can kill it (SIGKILL, no shutdown) in the middle of a
 * sweep. It starts the way worker/main.ts does (search attributes, then the schedules over the
 * worker's connection, then the worker) with two test settings: the run's prebuilt workflow bundle,
 * and the lifecycle schedule under STORAGE_TEST_LIFECYCLE_SCHEDULE_ID (the test's own), with no backup
 * schedule.
 */
import { NativeConnection } from '@temporalio/worker';
import path from 'node:path';
import { loadConfig, type Config } from '../../lib/platform/config';
import { createDb } from '../../lib/platform/db';
import { createLogger } from '../../lib/platform/logger';
import { createS3Client } from '../../lib/platform/s3Client';
import { ensureSearchAttributes } from '../../lib/platform/temporal';
import { createStorageWorker } from '../../worker/createWorker';
import { ensureSchedules } from '../../worker/schedules';
import { envFor, spawnService, type ServiceProcess } from './processes';
import { WORKFLOW_BUNDLE } from './testStack';

const READY = 'lifecycle test worker running';

async function main() {
  const config = loadConfig();
  const logger = createLogger(config.logLevel, { component: 'lifecycle-test-worker' });
  const db = createDb(config.database.url, 4);
  const s3 = createS3Client(config.s3);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  await ensureSearchAttributes(connection, config.temporal.namespace);
  await ensureSchedules(connection, config, { logger, lifecycleScheduleId: process.env.STORAGE_TEST_LIFECYCLE_SCHEDULE_ID });
  const worker = await createStorageWorker({ config, db, s3, logger, connection, workflowBundle: { codePath: WORKFLOW_BUNDLE } });
  process.stdout.write(`${READY}\n`);
  await worker.run();
}

/** Starts the worker process on `taskQueue` and resolves once it polls. */
export async function spawnLifecycleWorker(config: Config, taskQueue: string, scheduleId: string): Promise<ServiceProcess> {
  const env = envFor(config, {
    STORAGE_TEMPORAL_TASK_QUEUE: taskQueue,
    STORAGE_TEST_LIFECYCLE_SCHEDULE_ID: scheduleId,
    // No backup schedule of its task queue is left behind on the shared test server.
    STORAGE_BACKUP_ENABLED: 'false',
    STORAGE_VERSION_RETENTION_DAYS: String(config.versions.retentionDays),
    STORAGE_MAX_VERSIONS: String(config.versions.max),
  });
  const proc = spawnService(path.relative(path.resolve(__dirname, '..', '..'), __filename), env);
  const ready = new Promise<void>((resolve, reject) => {
    proc.child.stdout!.on('data', () => {
      if (proc.output().includes(READY)) resolve();
    });
    proc.child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it ran:\n${proc.output()}`)));
  });
  await ready.catch(async (err) => {
    await proc.kill();
    throw err;
  });
  return proc;
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`lifecycle test worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
