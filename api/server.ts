import { loadConfigOrExit } from '../lib/platform/config';
import { createDb } from '../lib/platform/db';
import { createLogger } from '../lib/platform/logger';
import { createS3Client } from '../lib/platform/objectStore';
import { createRedisClient } from '../lib/platform/redis';
import { createTemporalClient } from '../lib/platform/temporal';
import { buildApp } from './app';

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, { service: config.serviceName, component: 'api' });
  const db = createDb(config.database.url, config.database.poolMax);
  const s3 = createS3Client(config.s3);
  const temporal = createTemporalClient(config.temporal);
  const redis = config.redisUrl ? createRedisClient(config.redisUrl) : undefined;
  const app = buildApp({ config, db, s3, temporal, logger, redis });
  const server = app.listen(config.http.port, config.http.host, () => {
    logger.info('api listening', { url: `http://${config.http.host}:${config.http.port}` });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('api stopping', { signal });
    server.close();
    server.closeIdleConnections();
    await temporal.close().catch(() => {});
    await db.destroy();
    s3.destroy();
    redis?.disconnect();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`api failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
