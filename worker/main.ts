import { Client } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../lib/platform/config';
import { createServiceDb, exitOnRefusedRole } from '../lib/platform/db';
import { exitOnFatal } from '../lib/platform/fatal';
import { createLogger } from '../lib/platform/logger';
import { createS3Client } from '../lib/platform/s3Client';
import { createAssetCache } from '../lib/cache/assetCache';
import { createRedisClient } from '../lib/platform/redis';
import { ensureOutboxRelay, listenForOutboxCommits } from '../lib/events/relayRuns';
import { ensureSearchAttributes } from '../lib/platform/temporal';
import { createStorageWorker } from './createWorker';
import { ensureSchedules } from './schedules';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, { service: config.serviceName, component: 'worker' });
  exitOnFatal(logger);
  // SIGINT/SIGTERM make worker.run() drain in-flight tasks and resolve (graceful shutdown).
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const db = createServiceDb(config.database);
  await exitOnRefusedRole(db, config.database);
  const s3 = createS3Client(config.s3);
  // The activities' changes of assets invalidate the API replicas' cache entries through it.
  const redis = config.redisUrl ? createRedisClient(config.redisUrl) : undefined;
  const assetCache = createAssetCache({ db, redis, enabled: false, keyPrefix: config.cache.keyPrefix, ttlSeconds: config.cache.ttlSeconds });
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    await ensureSearchAttributes(connection, config.temporal.namespace);
    await ensureSchedules(connection, config, { logger });
    const worker = await createStorageWorker({ config, db, s3, logger, connection, assetCache });
    logger.info('worker started', { task_queue: config.temporal.taskQueue, temporal: config.temporal.address });
    const stopRelay = await startOutboxRelay(connection, config, logger);
    await worker.run();
    await stopRelay();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await db.destroy();
    s3.destroy();
    redis?.disconnect();
  }
}

/** With a Message Hub configured: the relay runs, and commits that write events wake it (over the worker's connection). */
async function startOutboxRelay(connection: NativeConnection, config: ReturnType<typeof loadConfigOrExit>, logger: ReturnType<typeof createLogger>) {
  if (!config.messageHubUrl) return async () => {};
  const client = new Client({ connection, namespace: config.temporal.namespace });
  await ensureOutboxRelay(client, config.temporal.taskQueue);
  return listenForOutboxCommits(config.database.url, client, config.temporal.taskQueue, logger);
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
