/**
 * Starts the test stack once per run: a Temporal dev server, SeaweedFS and a fresh database, on ports
 * and names of their own, unless STORAGE_TEST_TEMPORAL_ADDRESS / STORAGE_TEST_S3_ENDPOINT_URL /
 * STORAGE_TEST_DATABASE_URL name servers to reuse. Bundles the workflow code once for every file.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { createDb, ensureDatabase, migrateLatest } from '../lib/platform/db';
import { ensureSearchAttributes } from '../lib/platform/temporal';
import { startSeaweed, startTemporal, type ManagedProcess } from '../scripts/stack';
import { WORKFLOWS_PATH } from '../worker/createWorker';
import { TEST_AUDIENCE, TEST_ISSUER, startTestIssuer } from './support/issuer';
import { TEST_DATA, TEST_S3_CREDENTIALS, TEST_SEAWEED_PORTS, TEST_TEMPORAL_PORT, WORKFLOW_BUNDLE } from './support/testStack';

declare global {
  var __storageTestServers: ManagedProcess[] | undefined;

  var __storageTestDatabaseUrl: string | undefined;
}

export default async function globalSetup() {
  const servers: ManagedProcess[] = [];
  globalThis.__storageTestServers = servers;
  try {
    await setUp(servers);
  } catch (err) {
    // jest runs no teardown after a failed setup: the servers started so far would outlive the run.
    for (const server of servers.reverse()) await server.stop();
    throw err;
  }
}

async function setUp(servers: ManagedProcess[]) {
  const runDir = path.join(TEST_DATA, `run-${process.pid}`);
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });

  let temporalAddress = process.env.STORAGE_TEST_TEMPORAL_ADDRESS;
  if (!temporalAddress) {
    servers.push(await startTemporal({ port: TEST_TEMPORAL_PORT, logFile: path.join(runDir, 'temporal.log') }));
    temporalAddress = `127.0.0.1:${TEST_TEMPORAL_PORT}`;
  }
  await registerSearchAttributes(temporalAddress);

  let s3Endpoint = process.env.STORAGE_TEST_S3_ENDPOINT_URL;
  // Where the volume files are, for the test that looks for plaintext in them.
  let seaweedDataDir = process.env.STORAGE_TEST_SEAWEED_DATA_DIR;
  if (!s3Endpoint) {
    seaweedDataDir = path.join(runDir, 'seaweedfs');
    servers.push(
      await startSeaweed({
        ports: TEST_SEAWEED_PORTS,
        dataDir: seaweedDataDir,
        logFile: path.join(runDir, 'seaweedfs.log'),
        volumeSizeLimitMB: 32,
        ...TEST_S3_CREDENTIALS,
      }),
    );
    s3Endpoint = `http://127.0.0.1:${TEST_SEAWEED_PORTS.s3}`;
  }

  const base = new URL(process.env.STORAGE_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');
  base.pathname = `/storage_test_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl = base.toString();
  await ensureDatabase(databaseUrl);
  globalThis.__storageTestDatabaseUrl = databaseUrl;
  const db = createDb(databaseUrl, 2);
  await migrateLatest(db);
  await db.destroy();

  const issuer = await startTestIssuer();
  servers.push({ name: 'test Auth Service (JWKS)', started: true, stop: issuer.stop });

  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS_PATH), logger: quietLogger });
  fs.writeFileSync(WORKFLOW_BUNDLE, code);

  // Inherited by the test workers, which jest starts after this returns.
  Object.assign(process.env, {
    STORAGE_ENVIRONMENT: 'test',
    STORAGE_LOG_LEVEL: process.env.STORAGE_LOG_LEVEL ?? 'silent',
    STORAGE_DATABASE_URL: databaseUrl,
    STORAGE_TEMPORAL_ADDRESS: temporalAddress,
    STORAGE_S3_ENDPOINT_URL: s3Endpoint,
    STORAGE_S3_ACCESS_KEY_ID: process.env.STORAGE_TEST_S3_ACCESS_KEY_ID ?? TEST_S3_CREDENTIALS.accessKeyId,
    STORAGE_S3_SECRET_ACCESS_KEY: process.env.STORAGE_TEST_S3_SECRET_ACCESS_KEY ?? TEST_S3_CREDENTIALS.secretAccessKey,
    STORAGE_TEST_RUN_DIR: runDir,
    STORAGE_AUTH_JWKS_URL: issuer.jwksUrl,
    STORAGE_AUTH_ISSUER: TEST_ISSUER,
    STORAGE_AUTH_AUDIENCE: TEST_AUDIENCE,
    STORAGE_URL_SIGNING_KEYS: randomBytes(32).toString('base64url'),
    STORAGE_TEST_AUTH_SIGNING_KEY: JSON.stringify(issuer.keys[0]),
    ...(seaweedDataDir ? { STORAGE_TEST_SEAWEED_DATA_DIR: seaweedDataDir } : {}),
    // Encrypted at rest, as in production; test/encryption.test.ts also writes without it.
    STORAGE_S3_SSE: process.env.STORAGE_S3_SSE ?? 'AES256',
    ...TEST_RATE_LIMITS,
  });
}

/**
 * Budgets no test reaches by accident (the bench and the fuzzer send thousands of requests a
 * minute): the limiter still runs and answers with its headers. test/rateLimits.test.ts sets its own.
 */
const TEST_RATE_LIMITS = {
  STORAGE_RATE_LIMIT_READS: '10000000',
  STORAGE_RATE_LIMIT_WRITES: '10000000',
  STORAGE_RATE_LIMIT_CONTENT_BYTES: String(2 ** 50),
  STORAGE_RATE_LIMIT_PRIVILEGED_READS: '10000000',
  STORAGE_RATE_LIMIT_PRIVILEGED_WRITES: '10000000',
  STORAGE_RATE_LIMIT_PRIVILEGED_CONTENT_BYTES: String(2 ** 50),
  // Tests send many bodies at once on purpose (quotas, races); test/uploadStreams.test.ts sets its own bounds.
  STORAGE_RATE_LIMIT_UPLOAD_STREAMS: '10000',
  STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS: '10000',
};

/** A reused server may predate a search attribute: it is registered as `npm run setup` does. */
async function registerSearchAttributes(address: string) {
  const connection = await Connection.connect({ address });
  try {
    await ensureSearchAttributes(connection, process.env.STORAGE_TEMPORAL_NAMESPACE ?? 'default');
  } finally {
    await connection.close();
  }
}

const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (msg: string) => process.stderr.write(`bundle: ${msg}\n`),
  error: (msg: string) => process.stderr.write(`bundle: ${msg}\n`),
};
