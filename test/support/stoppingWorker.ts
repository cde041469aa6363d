/**
 * A worker process that stops the way a test's worker does and lives on after it, as a test run
 * does: SIGTERM shuts the worker down (the runtime's signal handler calls worker.shutdown(), then its run ends), `worker stopped`
 * is written, and the process lingers STORAGE_TEST_LINGER_MS before it exits, so that what the
 * Temporal core still does after a worker stopped shows in its output.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../lib/platform/config';
import { createServiceDb } from '../../lib/platform/db';
import { createLogger } from '../../lib/platform/logger';
import { createS3Client } from '../../lib/platform/s3Client';
import { createAssetCache } from '../../lib/cache/assetCache';
import { createStorageWorker } from '../../worker/createWorker';
import { WORKFLOW_BUNDLE } from './testStack';
import './quietRuntime';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const db = createServiceDb(config.database);
  const s3 = createS3Client(config.s3);
  const logger = createLogger('error', { component: 'stopping-worker' });
  const assetCache = createAssetCache({ db, enabled: false, keyPrefix: config.cache.keyPrefix, ttlSeconds: config.cache.ttlSeconds });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await createStorageWorker({ config, db, s3, logger, assetCache, connection, workflowBundle: { codePath: WORKFLOW_BUNDLE } });
  const running = worker.run();
  process.stdout.write('worker running\n');
  await running;
  process.stdout.write('worker stopped\n');
  // The connection stays open while the process lingers, as a test file's does between its workers.
  await db.destroy();
  s3.destroy();
  setTimeout(() => process.exit(0), Number(process.env.STORAGE_TEST_LINGER_MS ?? 0));
}

main().catch((err) => {
  process.stderr.write(`stopping worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
