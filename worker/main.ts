import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfigOrExit } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createS3Client } from '../lib/objectStore';
import { ensureSearchAttributes } from '../lib/temporal';
import { createStorageWorker } from './createWorker';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, { service: config.serviceName, component: 'worker' });
  // SIGINT/SIGTERM make worker.run() drain in-flight tasks and resolve (graceful shutdown).
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  const db = createDb(config.database.url, config.database.poolMax);
  const s3 = createS3Client(config.s3);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    await ensureSearchAttributes(connection, config.temporal.namespace);
    const worker = await createStorageWorker({ config, db, s3, logger, connection });
    logger.info('worker started', { task_queue: config.temporal.taskQueue, temporal: config.temporal.address });
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await db.destroy();
    s3.destroy();
  }
}

main().catch((err) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
