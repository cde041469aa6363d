/**
 * One running service per test file, against the run's real servers: its own bucket and task
 * queue, a worker on that queue using the run's single workflow bundle, and the API on a free port.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../../api/app';
import { loadConfig, type Config } from '../../lib/platform/config';
import { createServiceDb, dropDatabase, type Db } from '../../lib/platform/db';
import pg from 'pg';
import { uuidv7 } from '../../lib/platform/ids';
import { createLogger, type Logger } from '../../lib/platform/logger';
import { createS3Client, ensureBucket } from '../../lib/platform/s3Client';
import { createTemporalClient, type TemporalHandle } from '../../lib/platform/temporal';
import { createRedisClient } from '../../lib/platform/redis';
import { createAssetCache } from '../../lib/cache/assetCache';
import { createStorageWorker } from '../../worker/createWorker';
import './quietRuntime';
import { WORKFLOW_BUNDLE } from './testStack';

export interface TestContext {
  config: Config;
  db: Db;
  s3: S3Client;
  temporal: TemporalHandle;
  logger: Logger;
  baseUrl: string;
  /**
   * Starts a (further) worker on this file's task queue; stopped with the context. `s3Endpoint`
   * points its activities at another S3 endpoint (a fault-injecting proxy).
   */
  startWorker(opts?: { s3Endpoint?: string }): Promise<RunningWorker>;
  /** The worker started with the service (none with `{ worker: false }`). */
  worker: RunningWorker | undefined;
  stop(): Promise<void>;
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

export function testConfig(overrides: Record<string, string> = {}): Config {
  const suffix = uuidv7().slice(-12);
  return loadConfig({
    ...process.env,
    STORAGE_S3_BUCKET_NAME: `test-${suffix}`,
    STORAGE_TEMPORAL_TASK_QUEUE: `test-${suffix}`,
    ...overrides,
  });
}

/**
 * A database of the file's own, copied from the run's migrated template: "no row left behind"
 * can then be checked by counting, whatever other files do at the same time.
 */
async function createFileDatabase(): Promise<string> {
  const template = new URL(process.env.STORAGE_DATABASE_URL!);
  const copy = new URL(template);
  copy.pathname = `${template.pathname}_${uuidv7().slice(-12)}`;
  const admin = new URL(template);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(copy.pathname.slice(1))} TEMPLATE ${pg.escapeIdentifier(template.pathname.slice(1))}`);
  } finally {
    await client.end();
  }
  return copy.toString();
}

/** `databaseUser`: the service (and `ctx.db`) log in as that role instead of the one that migrated the database. */
export async function startTestService(overrides: Record<string, string> = {}, opts: { worker?: boolean; databaseUser?: string } = {}): Promise<TestContext> {
  const databaseUrl = await createFileDatabase();
  const serviceUrl = new URL(databaseUrl);
  if (opts.databaseUser) Object.assign(serviceUrl, { username: opts.databaseUser, password: '' });
  const config = testConfig({ STORAGE_DATABASE_URL: serviceUrl.toString(), ...overrides });
  const logger = createLogger(config.logLevel, { component: 'test' });
  const db = createServiceDb(config.database);
  const s3 = createS3Client(config.s3);
  await ensureBucket(s3, config.s3.bucket);
  await ensureBucket(s3, config.s3.backupBucket);
  const temporal = createTemporalClient(config.temporal);
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  // With STORAGE_REDIS_URL the service caches, and its worker's activities invalidate (as worker/main.ts does).
  const redis = config.redisUrl ? createRedisClient(config.redisUrl) : undefined;
  const assetCache = createAssetCache({ db, redis, enabled: false, keyPrefix: config.cache.keyPrefix, ttlSeconds: config.cache.ttlSeconds });

  const workers: RunningWorker[] = [];
  const startWorker = async (workerOpts: { s3Endpoint?: string } = {}): Promise<RunningWorker> => {
    const workerS3 = workerOpts.s3Endpoint ? createS3Client({ ...config.s3, endpoint: workerOpts.s3Endpoint }) : s3;
    const worker = await createStorageWorker({
      config,
      db,
      s3: workerS3,
      logger,
      assetCache,
      connection: nativeConnection,
      workflowBundle: { codePath: WORKFLOW_BUNDLE },
    });
    const running = worker.run();
    const handle: RunningWorker = {
      worker,
      stop: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        if (workerS3 !== s3) workerS3.destroy();
      },
    };
    workers.push(handle);
    return handle;
  };
  const worker = opts.worker === false ? undefined : await startWorker();

  const app = buildApp({ config, db, s3, temporal, logger, redis });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;

  return {
    config,
    db,
    s3,
    temporal,
    logger,
    baseUrl: `http://127.0.0.1:${port}`,
    worker,
    startWorker,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await Promise.all(workers.map((w) => w.stop()));
      await nativeConnection.close();
      await temporal.close();
      await db.destroy();
      s3.destroy();
      redis?.disconnect();
      await dropDatabase(databaseUrl);
    },
  };
}

/** The same service under another configuration: an API of its own over the same catalog and bucket. */
export async function serveWith(ctx: TestContext, change: (config: Config) => Config): Promise<ServedApp> {
  return serve(buildApp({ config: change(ctx.config), db: ctx.db, s3: ctx.s3, temporal: ctx.temporal, logger: ctx.logger }));
}

export interface ServedApp {
  baseUrl: string;
  close(): Promise<void>;
}

/** Serves an app on a loopback port of its own; `close` ends its connections too. */
export async function serve(app: ReturnType<typeof buildApp>): Promise<ServedApp> {
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * The file's service, started before its tests and stopped after them (hooks registered where this is
 * called, so a describe block gets a service of its own). The handle answers the running context's
 * fields once beforeAll has run; `overrides` may be a function, for values known only then.
 */
export function useTestService(
  overrides: Record<string, string> | (() => Record<string, string>) = {},
  opts: { worker?: boolean; databaseUser?: string } | (() => { worker?: boolean; databaseUser?: string }) = {},
): TestContext {
  let started: TestContext | undefined;
  beforeAll(async () => {
    started = await startTestService(typeof overrides === 'function' ? overrides() : overrides, typeof opts === 'function' ? opts() : opts);
  });
  afterAll(async () => {
    await started?.stop();
  });
  const running = (key: PropertyKey): TestContext => {
    if (!started) throw new Error(`the test service is not running (read ${String(key)} outside a test or hook?)`);
    return started;
  };
  // Spread (`{ ...ctx }`) and `in` see the running context's own fields too, not the empty target's.
  return new Proxy({} as TestContext, {
    get: (_target, key) => Reflect.get(running(key), key),
    has: (_target, key) => Reflect.has(running(key), key),
    ownKeys: () => Reflect.ownKeys(running('its keys')),
    getOwnPropertyDescriptor: (_target, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(running(key), key);
      return descriptor && { ...descriptor, configurable: true };
    },
  });
}
