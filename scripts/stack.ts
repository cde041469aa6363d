/**
 * Starts and stops the local servers the service needs: the Temporal dev server and SeaweedFS,
 * from the binaries scripts/bootstrap.sh installed into .tools/venv. Used by `npm start`
 * (scripts/dev.ts) and by the test suite's global setup, each with its own ports and data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
  stop(): Promise<void>;
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
  port: number;
  uiPort?: number; // omitted: headless
  dbFile?: string; // omitted: in memory
  logFile: string;
  namespace?: string;
}

/** `temporal server start-dev`, reused when something already answers on the port. */
export async function startTemporal(opts: TemporalServerOptions): Promise<ManagedProcess> {
  if (await portAnswers(opts.port)) return { name: 'temporal', started: false, stop: async () => {} };
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
  await waitFor('Temporal dev server', () => portAnswers(opts.port), 60_000, child, opts.logFile);
  return { name: 'temporal', started: true, stop: stopper(child) };
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
  if (await portAnswers(opts.ports.s3)) return { name: 'seaweedfs', started: false, stop: async () => {} };
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
  await waitFor('SeaweedFS S3 gateway', () => s3Answers(opts.ports.s3), 90_000, child, opts.logFile);
  return { name: 'seaweedfs', started: true, stop: stopper(child) };
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

export const TEMPORAL_UI_PORT = 8233;

function isLoopback(hostport: string): boolean {
  const host = hostport.replace(/^[a-z]+:\/\//, '').split(/[:/]/)[0];
  return host === '127.0.0.1' || host === 'localhost';
}

/**
 * npm start's servers for the configured addresses (npm start and the bench share them): each on
 * loopback is reused when it answers, or started with its data under .data/. A remote one is left
 * to whoever runs it (undefined here).
 */
export async function startLocalStack(config: {
  temporal: { address: string; namespace: string };
  s3: { endpoint: string; accessKeyId: string; secretAccessKey: string };
}): Promise<{ temporal?: ManagedProcess; seaweed?: ManagedProcess }> {
  const data = path.join(ROOT, '.data');
  let temporal: ManagedProcess | undefined;
  if (isLoopback(config.temporal.address)) {
    temporal = await startTemporal({
      port: Number(config.temporal.address.split(':')[1]),
      uiPort: TEMPORAL_UI_PORT,
      dbFile: path.join(data, 'temporal', 'temporal.sqlite'),
      logFile: path.join(data, 'logs', 'temporal.log'),
      namespace: config.temporal.namespace,
    });
  }
  if (!isLoopback(config.s3.endpoint)) return { temporal };
  try {
    const seaweed = await startSeaweed({
      ports: { ...DEV_SEAWEED_PORTS, s3: Number(new URL(config.s3.endpoint).port || 80) },
      dataDir: path.join(data, 'seaweedfs'),
      logFile: path.join(data, 'logs', 'seaweedfs.log'),
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
    });
    return { temporal, seaweed };
  } catch (err) {
    await temporal?.stop();
    throw err;
  }
}
