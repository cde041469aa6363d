/**
 * The service the benchmark drives, on the local stack:
 *
 * - Temporal and SeaweedFS at the addresses the STORAGE_* environment names (by default npm start's
 *   dev stack: 127.0.0.1:7233 and http://127.0.0.1:8333), reused when they answer, otherwise started
 *   with scripts/stack.ts exactly as `npm start` does, and stopped again at the end;
 * - PostgreSQL at STORAGE_DATABASE_URL's server, in a database of the run's own
 *   (`storage_bench_<pid>_<time>`, created, migrated, dropped at the end);
 * - a bucket (`bench-<id>`, emptied and removed at the end) and a task queue of the run's own, so
 *   nothing of npm start's service or of a test run is touched;
 * - the API (`api/server.ts`), the worker (`worker/main.ts`) and the row-4 baseline
 *   (`bench/minimalApi.ts`) each as a process of its own, so the API's memory and CPU are its alone:
 *   under `node --import tsx`, or (`--compiled`) all three from one tsc build, the API and the
 *   worker as production runs them, and the baseline likewise so that row 1 compares like with like.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { AbortMultipartUploadCommand, DeleteBucketCommand, DeleteObjectsCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../lib/platform/config';
import { createDb, dropDatabase, ensureDatabase, migrateLatest, redactUrl, type Db } from '../lib/platform/db';
import { uuidv7 } from '../lib/platform/ids';
import { createS3Client, ensureBucket } from '../lib/platform/s3Client';
import { createTemporalClient, type TemporalHandle } from '../lib/platform/temporal';
import { API_NODE_FLAGS, ROOT, freePorts, startLocalStack, type ManagedProcess } from '../scripts/stack';
import { ROLES } from '../lib/auth/actor';
import { mintDevToken } from '../lib/auth/devTokens';
import { backupScheduleIdOf, lifecycleScheduleIdOf, restoreDrillScheduleIdOf, scrubScheduleIdOf } from '../worker/schedules';
import { expectJson, keepAliveAgent, multipartBody, postMultipart, request, useToken } from './client';
import { pidListeningOn, type CpuGroups } from './cpu';

export interface BenchEnvOptions {
  /** STORAGE_LOG_LEVEL of the API and the worker (the service's default, `info`, unless told). */
  logLevel: string;
  maxUploadBytes: number;
  /** Processes (api, worker, minimal) run with `--cpu-prof`; profiles land in the run directory when they stop. */
  profile: string[];
  /**
   * Runs the API, the worker and the minimal baseline from a tsc build (bench/tsconfig.build.json:
   * the service's tsconfig.build.json and bench/minimalApi.ts, into .data/bench/dist) as production
   * does (`node dist/api/server.js`), instead of under the tsx loader.
   */
  compiled: boolean;
  runDir: string;
  say: (line: string) => void;
}

export interface ServiceChild {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface StackInfo {
  temporal: { address: string; reused: boolean };
  s3: { endpoint: string; reused: boolean };
  database: string;
  bucket: string;
  task_queue: string;
  log_level: string;
  max_upload_bytes: number;
  service_runs: string;
  pool_max: number;
  run_dir: string;
}

export interface BenchEnv {
  config: Config;
  apiUrl: string;
  minimalUrl: string;
  api: ServiceChild;
  /** The same API with the audit log and the rate limiter switched off: row 7's baseline. */
  plainApiUrl: string;
  plainApi: ServiceChild;
  worker: ServiceChild;
  minimal: ServiceChild;
  s3: S3Client;
  db: Db;
  /** Reads workflow histories for the timing breakdowns. */
  temporal: TemporalHandle;
  /** How CPU time is attributed to the parts of the stack (bench/cpu.ts). */
  cpuGroups: CpuGroups;
  info: StackInfo;
  /**
   * One more API (on `port`) or worker of the same service, stopped with the environment: the
   * replicas of row 14. `unset` names variables of the run's environment the replica goes without
   * (the service's default applies): row 16's API runs on the default upload settings.
   */
  startReplica(kind: 'api' | 'worker', name: string, port?: number, unset?: string[]): ServiceChild;
  stop(): Promise<void>;
}

function childEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    STORAGE_SERVICE_NAME: config.serviceName,
    STORAGE_ENVIRONMENT: config.environment,
    STORAGE_LOG_LEVEL: config.logLevel,
    STORAGE_HOST: config.http.host,
    STORAGE_PORT: String(config.http.port),
    STORAGE_DATABASE_URL: config.database.url,
    STORAGE_DATABASE_POOL_MAX: String(config.database.poolMax),
    STORAGE_S3_ENDPOINT_URL: config.s3.endpoint,
    STORAGE_S3_ACCESS_KEY_ID: config.s3.accessKeyId,
    STORAGE_S3_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
    STORAGE_S3_BUCKET_NAME: config.s3.bucket,
    STORAGE_BACKUP_BUCKET_NAME: config.s3.backupBucket,
    STORAGE_S3_REGION: config.s3.region,
    STORAGE_S3_FORCE_PATH_STYLE: String(config.s3.forcePathStyle),
    STORAGE_TEMPORAL_ADDRESS: config.temporal.address,
    STORAGE_TEMPORAL_NAMESPACE: config.temporal.namespace,
    STORAGE_TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    STORAGE_MAX_UPLOAD_SIZE: String(config.uploads.maxSizeBytes),
    STORAGE_UPLOAD_WAIT_SECONDS: String(config.uploads.waitSeconds),
    STORAGE_UPLOAD_EXPIRY_HOURS: String(config.uploads.expiryHours),
    STORAGE_SCRUB_MAX_BYTES_PER_SECOND: String(config.scrub.maxBytesPerSecond),
    STORAGE_S3_SSE: config.s3.sse?.mode ?? '',
    ...(config.s3.sse?.kmsKeyId ? { STORAGE_S3_SSE_KMS_KEY_ID: config.s3.sse.kmsKeyId } : {}),
    ...rateLimitEnv(config),
    // With Redis the API caches as it would in production, and the worker invalidates.
    ...(config.redisUrl
      ? {
          STORAGE_CACHE: config.cache.enabled ? 'on' : 'off',
          STORAGE_CACHE_MAX_OBJECT_BYTES: String(config.cache.maxObjectBytes),
          STORAGE_CACHE_TTL_SECONDS: String(config.cache.ttlSeconds),
        }
      : {}),
    ...extra,
  };
}

// The limiter runs as in production (STORAGE_RATE_LIMITS=off measures without it), with budgets no
// measurement reaches: a row measures the service, not its 429s.
const BENCH_BUDGET = String(2 ** 50);

function rateLimitEnv(config: Config): NodeJS.ProcessEnv {
  return {
    STORAGE_RATE_LIMITS: config.rateLimits.enabled ? 'on' : 'off',
    ...(config.redisUrl ? { STORAGE_REDIS_URL: config.redisUrl, STORAGE_REDIS_PREFIX: `bench-${process.pid}` } : {}),
    ...Object.fromEntries(
      ['READS', 'WRITES', 'CONTENT_BYTES'].flatMap((budget) => [
        [`STORAGE_RATE_LIMIT_${budget}`, BENCH_BUDGET],
        [`STORAGE_RATE_LIMIT_PRIVILEGED_${budget}`, BENCH_BUDGET],
      ]),
    ),
    STORAGE_RATE_LIMIT_UPLOAD_STREAMS: BENCH_BUDGET,
    STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS: BENCH_BUDGET,
  };
}

const DIST = path.join(ROOT, '.data', 'bench', 'dist');

/** Builds the service and the minimal baseline with tsc into .data/bench/dist (type errors are reported, the build still emits). */
function buildService(say: (line: string) => void): void {
  fs.rmSync(DIST, { recursive: true, force: true });
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const out = spawnSync(process.execPath, [tsc, '-p', path.join('bench', 'tsconfig.build.json'), '--outDir', DIST], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (['api/server.js', 'worker/main.js', 'bench/minimalApi.js'].some((file) => !fs.existsSync(path.join(DIST, file)))) {
    throw new Error(`the build into ${DIST} failed:\n${out.stdout}${out.stderr}`);
  }
  if (out.status !== 0) say(`tsc reported errors; running what it emitted:\n${out.stdout.split('\n').slice(0, 10).join('\n')}`);
  // The web console's bundle (npm run build:console), beside the build as the Dockerfile has it: the API serves dist/console.
  const consoleBundle = path.join(ROOT, 'dist', 'console');
  if (fs.existsSync(consoleBundle)) fs.cpSync(consoleBundle, path.join(DIST, 'console'), { recursive: true });
}

/** `entry` is a .ts file run under tsx, or a .js file run as is. */
function spawnChild(name: string, nodeArgs: string[], entry: string, env: NodeJS.ProcessEnv, logFile: string): ServiceChild {
  const log = fs.openSync(logFile, 'a');
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, entry], { cwd: ROOT, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  return { name, child, pid: child.pid!, logFile, stop };
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Polls `probe` until it holds, the child exits, or `timeoutMs` passes. */
async function waitReady(what: string, proc: ServiceChild, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.signalCode ?? proc.child.exitCode}) before ${what}; ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not within ${timeoutMs} ms; ${proc.logFile}:\n${tail(proc.logFile)}`);
}

async function emptyAndDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (let page = 0; page < 1000; page++) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length === 0) break;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
  }
  for (let page = 0; page < 100; page++) {
    const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    const uploads = open.Uploads ?? [];
    if (uploads.length === 0) break;
    for (const u of uploads) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! })).catch(() => {});
    }
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

export async function startBenchEnv(opts: BenchEnvOptions): Promise<BenchEnv> {
  const { say } = opts;
  const base = loadConfig(process.env);
  const cleanups: Array<() => Promise<void>> = [];
  const runCleanups = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((err) => say(`cleanup: ${err instanceof Error ? err.message : String(err)}`));
    }
  };

  try {
    // The local stack: reuse what answers, start what does not (as npm start does).
    const servers: ManagedProcess[] = [];
    cleanups.push(async () => {
      for (const s of servers.reverse()) await s.stop();
    });
    const local = await startLocalStack(base);
    for (const server of [local.temporal, local.seaweed]) if (server) servers.push(server);
    const temporalReused = !local.temporal?.started;
    const s3Reused = !local.seaweed?.started;
    say(`Temporal ${base.temporal.address} (${temporalReused ? 'reused' : 'started'}), S3 ${base.s3.endpoint} (${s3Reused ? 'reused' : 'started'})`);

    // The run's own database, bucket and task queue.
    const suffix = uuidv7().slice(-12);
    const dbUrl = new URL(base.database.url);
    dbUrl.pathname = `/storage_bench_${process.pid}_${Date.now().toString(36)}`;
    const databaseUrl = dbUrl.toString();
    await ensureDatabase(databaseUrl);
    cleanups.push(() => dropDatabase(databaseUrl));
    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.destroy());
    await migrateLatest(db);

    const [apiPort, minimalPort, plainApiPort] = await freePorts(3);
    const config = loadConfig({
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('STORAGE_'))),
      STORAGE_DATABASE_URL: databaseUrl,
      STORAGE_S3_BUCKET_NAME: `bench-${suffix}`,
      STORAGE_BACKUP_BUCKET_NAME: `bench-${suffix}-backups`,
      STORAGE_TEMPORAL_TASK_QUEUE: `bench-${suffix}`,
      STORAGE_HOST: '127.0.0.1',
      STORAGE_PORT: String(apiPort),
      STORAGE_LOG_LEVEL: opts.logLevel,
      STORAGE_MAX_UPLOAD_SIZE: String(opts.maxUploadBytes),
      // Large uploads are measured until their 201: a 202 would end the measurement early.
      STORAGE_UPLOAD_WAIT_SECONDS: '300',
    });
    const s3 = createS3Client(config.s3);
    cleanups.push(async () => s3.destroy());
    const temporal = createTemporalClient(config.temporal);
    cleanups.push(() => temporal.close());
    // The bench's worker keeps schedules named after its own task queue: they go with it.
    cleanups.push(async () => {
      for (const id of [lifecycleScheduleIdOf(config), backupScheduleIdOf(config), restoreDrillScheduleIdOf(config), scrubScheduleIdOf(config)]) {
        await temporal.client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined);
      }
    });
    await ensureBucket(s3, config.s3.bucket);
    await ensureBucket(s3, config.s3.backupBucket);
    cleanups.push(async () => {
      await emptyAndDeleteBucket(s3, config.s3.bucket);
      await emptyAndDeleteBucket(s3, config.s3.backupBucket);
    });

    // The service and the baseline, each a process of its own.
    // The bench's own development Auth Service: its API verifies this secret, its client sends an admin token.
    const auth = { ...config.auth, secret: randomBytes(32).toString('base64url') };
    const env = childEnv(config, {
      STORAGE_AUTH_JWT_SECRET: auth.secret,
      STORAGE_AUTH_ISSUER: auth.issuer,
      STORAGE_AUTH_AUDIENCE: auth.audience,
      STORAGE_URL_SIGNING_KEYS: randomBytes(32).toString('base64url'),
    });
    useToken(await mintDevToken(auth, { sub: 'bench', roles: [ROLES.admin] }));
    const prof = (name: string) => (opts.profile.includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${path.join(opts.runDir, 'profiles', name)}`] : []);
    if (opts.compiled) {
      say('building the service with tsc (--compiled)');
      buildService(say);
    }
    const entry = (ts: string) => (opts.compiled ? path.join(DIST, ts.replace(/\.ts$/, '.js')) : ts);
    const worker = spawnChild('worker', prof('worker'), entry('worker/main.ts'), env, path.join(opts.runDir, 'worker.log'));
    cleanups.push(worker.stop);
    const api = spawnChild('api', [...API_NODE_FLAGS, ...prof('api')], entry('api/server.ts'), env, path.join(opts.runDir, 'api.log'));
    cleanups.push(api.stop);
    const plainApi = spawnChild(
      'api-plain',
      [...API_NODE_FLAGS, ...prof('api-plain')],
      entry('api/server.ts'),
      { ...env, STORAGE_PORT: String(plainApiPort), STORAGE_AUDIT_LOG: 'off', STORAGE_RATE_LIMITS: 'off' },
      path.join(opts.runDir, 'api-plain.log'),
    );
    cleanups.push(plainApi.stop);
    // With the API's own Node flags too: the yardsticks differ from the service in code alone.
    const minimal = spawnChild(
      'minimal',
      [...API_NODE_FLAGS, ...prof('minimal')],
      entry('bench/minimalApi.ts'),
      { ...env, BENCH_PORT: String(minimalPort) },
      path.join(opts.runDir, 'minimal.log'),
    );
    cleanups.push(minimal.stop);

    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const minimalUrl = `http://127.0.0.1:${minimalPort}`;
    const plainApiUrl = `http://127.0.0.1:${plainApiPort}`;
    await Promise.all([
      waitReady(
        'the plain API answered /health/ready',
        plainApi,
        async () => (await request(`${plainApiUrl}/health/ready`, { timeoutMs: 5000 })).status === 200,
        120_000,
      ),
      waitReady('the API answered /health/ready', api, async () => (await request(`${apiUrl}/health/ready`, { timeoutMs: 5000 })).status === 200, 120_000),
      waitReady('the minimal API answered', minimal, async () => (await request(`${minimalUrl}/health`, { timeoutMs: 5000 })).status === 200, 120_000),
    ]);
    // The worker is ready when an upload goes through end to end (it bundles the workflows first).
    const agent = keepAliveAgent(1);
    const probe = multipartBody(Buffer.from('ready?'), { name: 'bench-ready-probe' });
    await waitReady(
      'an upload went through the worker',
      worker,
      async () => {
        const answer = await postMultipart(`${apiUrl}/api/v2/assets/upload`, probe, agent, 120_000);
        if (answer.status === 201) return true;
        if (answer.status !== 202) await expectJson(answer, 201, 'readiness upload');
        return false;
      },
      180_000,
    );
    agent.destroy();
    say(
      `API ${apiUrl} (pid ${api.pid}), worker pid ${worker.pid}, minimal baseline ${minimalUrl} (pid ${minimal.pid}); logs in ${path.relative(ROOT, opts.runDir)}`,
    );

    const cpuGroups: CpuGroups = {
      pids: {
        api: api.pid,
        'api (no audit, no limiter)': plainApi.pid,
        worker: worker.pid,
        'minimal baseline': minimal.pid,
        temporal: pidListeningOn(Number(config.temporal.address.split(':')[1])),
        seaweedfs: pidListeningOn(Number(new URL(config.s3.endpoint).port || 80)),
        'bench client': process.pid,
      },
      cmdlineContains: { 'postgres (run db)': dbUrl.pathname.slice(1) },
    };
    const startReplica = (kind: 'api' | 'worker', name: string, port?: number, unset: string[] = []): ServiceChild => {
      const replicaEnv = Object.fromEntries(Object.entries(env).filter(([k]) => !unset.includes(k)));
      const replica =
        kind === 'api'
          ? spawnChild(name, API_NODE_FLAGS, entry('api/server.ts'), { ...replicaEnv, STORAGE_PORT: String(port) }, path.join(opts.runDir, `${name}.log`))
          : spawnChild(name, [], entry('worker/main.ts'), replicaEnv, path.join(opts.runDir, `${name}.log`));
      cleanups.push(replica.stop);
      return replica;
    };
    return {
      // With the run's signing secret, so a row can mint tokens of other users.
      config: { ...config, auth },
      cpuGroups,
      startReplica,
      apiUrl,
      minimalUrl,
      api,
      plainApiUrl,
      plainApi,
      worker,
      minimal,
      s3,
      db,
      temporal,
      info: {
        temporal: { address: config.temporal.address, reused: temporalReused },
        s3: { endpoint: config.s3.endpoint, reused: s3Reused },
        database: redactUrl(databaseUrl),
        bucket: config.s3.bucket,
        task_queue: config.temporal.taskQueue,
        log_level: config.logLevel,
        max_upload_bytes: config.uploads.maxSizeBytes,
        service_runs: opts.compiled ? 'compiled (node .data/bench/dist/...js)' : 'node --import tsx',
        pool_max: config.database.poolMax,
        run_dir: path.relative(ROOT, opts.runDir),
      },
      stop: runCleanups,
    };
  } catch (err) {
    await runCleanups();
    throw err;
  }
}
