/**
 * Starts and stops the local servers the service needs: the Temporal dev server and SeaweedFS,
 * from the binaries scripts/bootstrap.sh installed into .tools/venv, and Redis (Debian's
 * redis-server, which the bootstrap installs). Used by `npm start` (scripts/dev.ts) and by the test
 * suite's global setup, each with its own ports and data.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SEARCH_ATTRIBUTES } from '../lib/platform/temporal';

export const ROOT = path.resolve(__dirname, '..');

/**
 * Node flags the API runs with wherever it runs (npm start, the Dockerfile and docker-compose.yml,
 * the bench). A young generation of at most 2 MiB per semi-space took 26 MiB off the idle API and
 * kept its peak near 200 MiB while it streams 256 MiB (BENCHMARKS.md, row 6).
 */
export const API_NODE_FLAGS = ['--max-semi-space-size=2'];
export const TOOLS_BIN = path.join(ROOT, '.tools', 'venv', 'bin');
export const TEMPORAL_CLI = path.join(TOOLS_BIN, 'temporal');
export const TEMPORAL_TEST_SERVER = path.join(TOOLS_BIN, 'temporal-test-server');
export const WEED = path.join(TOOLS_BIN, 'weed');

export interface ManagedProcess {
  name: string;
  /** False when a server already answered on the port and was reused: stop() then does nothing. */
  started: boolean;
  /** The process started here, if one was. */
  pid?: number;
  stop(): Promise<void>;
}

/**
 * Told of each server as soon as its process exists, before it answers: whoever stops the stack
 * (Ctrl-C while SeaweedFS is still coming up) stops it too, instead of leaving it to init.
 */
export type OnSpawned = (server: ManagedProcess) => void;

const reused = (name: string): ManagedProcess => ({ name, started: false, stop: async () => {} });

/** A server spawned here, registered at once, and stopped again when it never becomes ready. */
async function startManaged(name: string, child: ChildProcess, ready: () => Promise<void>, onSpawned?: OnSpawned): Promise<ManagedProcess> {
  const server: ManagedProcess = { name, started: true, pid: child.pid, stop: stopper(child) };
  onSpawned?.(server);
  try {
    await ready();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}

export function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * `count` distinct free ports. Every port stays bound until all are known: a port freed at once can be
 * handed out again by the next ask, and the API and the minimal handler once got the same one.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, proc?: ChildProcess, logFile?: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) {
      throw new Error(`${what} exited with code ${proc.exitCode} before it was ready${logFile ? `; see ${logFile}` : ''}`);
    }
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms${logFile ? `; see ${logFile}` : ''}`);
}

function requireBinary(bin: string) {
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} is missing: run scripts/bootstrap.sh (npm start and npm test run it for you)`);
  }
}

function spawnLogged(bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  requireBinary(bin);
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const log = fs.openSync(logFile, 'a');
  // Own process group, so Ctrl-C in a terminal reaches the runner, which stops its children in order.
  const child = spawn(bin, args, { stdio: ['ignore', log, log], env, detached: true });
  fs.closeSync(log);
  child.unref();
  return child;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Unreferenced since its start: once the SIGKILL below is sent, nothing else may keep this
    // process alive until the exit, and it would end there, leaving every server after this one running.
    child.ref();
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(-child.pid!, 'SIGTERM');
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
  };
}

export interface TemporalServerOptions {
  onSpawned?: OnSpawned;
  port: number;
  uiPort?: number; // omitted: headless
  dbFile?: string; // omitted: in memory
  logFile: string;
  namespace?: string;
}

/** `temporal server start-dev`, reused when something already answers on the port. */
export async function startTemporal(opts: TemporalServerOptions): Promise<ManagedProcess> {
  if (await portAnswers(opts.port)) return reused('temporal');
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort), '--ui-disable-news-fetch');
  else args.push('--headless');
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
    // npm start's file: a write-ahead log synced at checkpoints, not at every commit. A crash of the
    // machine may lose the last commits of a development server; every workflow task commits.
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  // Registered here for a new database; ensureSearchAttributes() covers an existing one.
  for (const key of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  const child = spawnLogged(TEMPORAL_CLI, args, opts.logFile);
  return startManaged('temporal', child, () => waitFor('Temporal dev server', () => portAnswers(opts.port), 60_000, child, opts.logFile), opts.onSpawned);
}

export interface SeaweedPorts {
  s3: number;
  master: number;
  volume: number;
  filer: number;
  admin: number;
}

export const DEV_SEAWEED_PORTS: SeaweedPorts = { s3: 8333, master: 9333, volume: 8080, filer: 8888, admin: 23646 };

export interface SeaweedOptions {
  onSpawned?: OnSpawned;
  ports: SeaweedPorts;
  dataDir: string;
  logFile: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Per volume; small so a laptop's disk is not preallocated away. */
  volumeSizeLimitMB?: number;
}

/**
 * SeaweedFS all-in-one (`weed mini`): master, volume, filer and S3 gateway. SeaweedFS adds 10000 to
 * each HTTP port for its gRPC port, so two stacks must not have ports 10000 apart.
 */
export async function startSeaweed(opts: SeaweedOptions): Promise<ManagedProcess> {
  if (await portAnswers(opts.ports.s3)) return reused('seaweedfs');
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const s3ConfigFile = path.join(opts.dataDir, 's3-identities.json');
  fs.writeFileSync(
    s3ConfigFile,
    JSON.stringify({
      identities: [
        {
          name: 'storage-service',
          credentials: [{ accessKey: opts.accessKeyId, secretKey: opts.secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
    { mode: 0o600 },
  );
  const args = [
    'mini',
    `-dir=${opts.dataDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    `-s3.port=${opts.ports.s3}`,
    `-s3.config=${s3ConfigFile}`,
    `-master.port=${opts.ports.master}`,
    `-volume.port=${opts.ports.volume}`,
    `-filer.port=${opts.ports.filer}`,
    `-admin.port=${opts.ports.admin}`,
    '-admin.ui=false',
    '-webdav=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-master.telemetry=false',
    `-master.volumeSizeLimitMB=${opts.volumeSizeLimitMB ?? 64}`,
  ];
  const child = spawnLogged(WEED, args, opts.logFile);
  return startManaged('seaweedfs', child, () => waitFor('SeaweedFS S3 gateway', () => s3Answers(opts.ports.s3), 90_000, child, opts.logFile), opts.onSpawned);
}

export interface RedisOptions {
  onSpawned?: OnSpawned;
  port: number;
  dataDir: string;
  logFile: string;
}

/**
 * Redis, reused when something already answers on the port. Bounded as docker-compose.yml bounds
 * it; nothing is saved: it holds the cache and the rate-limit budgets, which start anew.
 */
export async function startRedis(opts: RedisOptions): Promise<ManagedProcess> {
  if (await portAnswers(opts.port)) return reused('redis');
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const args = ['--port', String(opts.port), '--bind', '127.0.0.1', '--dir', opts.dataDir, '--save', '', '--appendonly', 'no'];
  args.push('--maxmemory', '256mb', '--maxmemory-policy', 'volatile-lru');
  const child = spawnLogged(onPath('redis-server'), args, opts.logFile);
  return startManaged('redis', child, () => waitFor('Redis', () => portAnswers(opts.port), 30_000, child, opts.logFile), opts.onSpawned);
}

/** A Debian binary, found as the shell would find it (a missing one is reported by spawnLogged). */
function onPath(bin: string): string {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return dirs.map((dir) => path.join(dir, bin)).find((candidate) => fs.existsSync(candidate)) ?? bin;
}

/** The S3 port accepting connections is not enough: the gateway answers only once the filer is up. */
async function s3Answers(port: number): Promise<boolean> {
  if (!(await portAnswers(port))) return false;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

/** Where npm start keeps its servers' data and logs, and the ports it gives them beside the configured ones. */
export interface DevStackOptions {
  dataDir: string;
  temporalUiPort: number;
  seaweedPorts: Omit<SeaweedPorts, 's3'>;
}

export const DEV_STACK: DevStackOptions = {
  dataDir: path.join(ROOT, '.data'),
  temporalUiPort: 8233,
  seaweedPorts: { master: DEV_SEAWEED_PORTS.master, volume: DEV_SEAWEED_PORTS.volume, filer: DEV_SEAWEED_PORTS.filer, admin: DEV_SEAWEED_PORTS.admin },
};

/**
 * npm start's options, as the environment changes them: STORAGE_DEV_DATA_DIR, STORAGE_DEV_TEMPORAL_UI_PORT
 * and STORAGE_DEV_SEAWEED_PORTS (`master=9333,volume=8080,filer=8888,admin=23646`, any of them), so
 * that a second stack (a test of npm start) shares neither ports nor data with the first.
 */
export function devStackOptions(env: NodeJS.ProcessEnv = process.env): DevStackOptions {
  const port = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name}: ${JSON.stringify(value)} is not a port`);
    return n;
  };
  const seaweedPorts = { ...DEV_STACK.seaweedPorts };
  for (const item of (env.STORAGE_DEV_SEAWEED_PORTS ?? '').split(',').filter(Boolean)) {
    const [key, value = ''] = item.split('=').map((part) => part.trim());
    if (!(key in seaweedPorts)) throw new Error(`STORAGE_DEV_SEAWEED_PORTS: ${key} is not one of ${Object.keys(seaweedPorts).join(', ')}`);
    seaweedPorts[key as keyof typeof seaweedPorts] = port('STORAGE_DEV_SEAWEED_PORTS', value);
  }
  return {
    dataDir: env.STORAGE_DEV_DATA_DIR ? path.resolve(env.STORAGE_DEV_DATA_DIR) : DEV_STACK.dataDir,
    temporalUiPort: env.STORAGE_DEV_TEMPORAL_UI_PORT ? port('STORAGE_DEV_TEMPORAL_UI_PORT', env.STORAGE_DEV_TEMPORAL_UI_PORT) : DEV_STACK.temporalUiPort,
    seaweedPorts,
  };
}

function isLoopback(hostport: string): boolean {
  const host = hostport.replace(/^[a-z]+:\/\//, '').split(/[:/]/)[0];
  return host === '127.0.0.1' || host === 'localhost';
}

const portOf = (url: string) => Number(new URL(url).port || 80);

/**
 * npm start's servers for the configured addresses (npm start and the bench share them): each on
 * loopback is reused when it answers, or started with its data under `dataDir`. A remote one is left
 * to whoever runs it (undefined here), and so is Redis when no STORAGE_REDIS_URL is configured.
 */
export async function startLocalStack(
  config: {
    temporal: { address: string; namespace: string };
    s3: { endpoint: string; accessKeyId: string; secretAccessKey: string };
    redisUrl?: string;
  },
  opts: Partial<DevStackOptions> & { onSpawned?: OnSpawned } = {},
): Promise<{ temporal?: ManagedProcess; seaweed?: ManagedProcess; redis?: ManagedProcess }> {
  const { dataDir, temporalUiPort, seaweedPorts } = { ...DEV_STACK, ...opts };
  const logs = path.join(dataDir, 'logs');
  const started: { temporal?: ManagedProcess; seaweed?: ManagedProcess; redis?: ManagedProcess } = {};
  try {
    if (isLoopback(config.temporal.address)) {
      started.temporal = await startTemporal({
        onSpawned: opts.onSpawned,
        port: Number(config.temporal.address.split(':')[1]),
        uiPort: temporalUiPort,
        dbFile: path.join(dataDir, 'temporal', 'temporal.sqlite'),
        logFile: path.join(logs, 'temporal.log'),
        namespace: config.temporal.namespace,
      });
    }
    if (isLoopback(config.s3.endpoint)) {
      started.seaweed = await startSeaweed({
        onSpawned: opts.onSpawned,
        ports: { ...seaweedPorts, s3: portOf(config.s3.endpoint) },
        dataDir: path.join(dataDir, 'seaweedfs'),
        logFile: path.join(logs, 'seaweedfs.log'),
        accessKeyId: config.s3.accessKeyId,
        secretAccessKey: config.s3.secretAccessKey,
      });
    }
    if (config.redisUrl && isLoopback(config.redisUrl)) {
      started.redis = await startRedis({
        onSpawned: opts.onSpawned,
        port: Number(new URL(config.redisUrl).port || 6379),
        dataDir: path.join(dataDir, 'redis'),
        logFile: path.join(logs, 'redis.log'),
      });
    }
    return started;
  } catch (err) {
    for (const server of [started.seaweed, started.temporal]) await server?.stop();
    throw err;
  }
}

/** Where Debian's PostgreSQL 15 server binaries are (initdb, pg_ctl, postgres); STORAGE_POSTGRES_BIN overrides. */
export const POSTGRES_BIN = process.env.STORAGE_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresCluster extends ManagedProcess {
  /** The cluster's superuser `postgres` on loopback (trust authentication), database `postgres`. */
  url: string;
  /** Stops the server as a crash would (`pg_ctl stop -m immediate`): no checkpoint, every connection cut. */
  crash(): Promise<void>;
  /** Starts the stopped server again on the same data directory and port; resolves once it accepts connections. */
  start(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own, made with initdb in `dataDir` (which must not exist yet) and run
 * with pg_ctl on `port`, for a test that crashes and restarts its database. As root it runs as the
 * `postgres` user, since initdb and postgres refuse root (the directories above `dataDir` must let
 * that user through). fsync is off: a crash of the server (not of
 * the machine) loses nothing, and a test's cluster is thrown away.
 */
export async function startPostgres(opts: { port: number; dataDir: string; logFile: string }): Promise<PostgresCluster> {
  for (const bin of ['initdb', 'pg_ctl']) {
    if (!fs.existsSync(path.join(POSTGRES_BIN, bin))) {
      throw new Error(
        `${path.join(POSTGRES_BIN, bin)} is missing: install PostgreSQL 15's server (apt-get install postgresql-15), or set STORAGE_POSTGRES_BIN`,
      );
    }
  }
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  for (const dir of [opts.dataDir, path.dirname(opts.logFile)]) {
    fs.mkdirSync(dir, { recursive: true });
    if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  }
  const run = (bin: string, args: string[]) => runAs(owner, path.join(POSTGRES_BIN, bin), args);
  await run('initdb', ['-D', opts.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  const serverOptions = `-p ${opts.port} -k ${opts.dataDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const start = () => run('pg_ctl', ['-D', opts.dataDir, '-l', opts.logFile, '-o', serverOptions, '-w', '-t', '60', 'start']);
  await start();
  return {
    name: 'postgres',
    started: true,
    url: `postgresql://postgres@127.0.0.1:${opts.port}/postgres`,
    crash: () => run('pg_ctl', ['-D', opts.dataDir, '-m', 'immediate', '-w', 'stop']),
    start,
    stop: () => run('pg_ctl', ['-D', opts.dataDir, '-m', 'fast', '-w', 'stop']).catch(() => {}),
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Runs a PostgreSQL tool to its end (as `owner`, when given); its output is in the error when it fails. */
function runAs(owner: { uid: number; gid: number } | undefined, bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // pg_ctl's server keeps the log open, not these pipes: the call ends when the tool does.
    execFile(bin, args, { ...owner, cwd: '/', timeout: 90_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(bin)} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve();
    });
  });
}
