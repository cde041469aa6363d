/**
 * `npm start`: starts the local stack (reusing servers already up: Temporal, SeaweedFS, Redis),
 * prepares the catalog and the buckets, runs the worker and the API, starts either again when it
 * dies (after a bounded, logged backoff; the rest of the stack stays up), and stops everything it
 * started on Ctrl-C (a second Ctrl-C gives the worker and the API no more time to drain).
 *
 * `npm start -- --replicas N` (or STORAGE_REPLICAS=N) runs N APIs on internal loopback ports behind
 * the round-robin proxy (scripts/roundRobinProxy.ts) on the API's port, and N workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ROLES } from '../lib/auth/actor';
import { mintDevToken } from '../lib/auth/devTokens';
import { configWithDevSecrets } from './devSecrets';
import { setUp } from './setup';
import { startRoundRobinProxy, type RoundRobinProxy } from './roundRobinProxy';
import { API_NODE_FLAGS, devStackOptions, freePorts, ROOT, startLocalStack, waitFor, type ManagedProcess } from './stack';

/** How a terminal beside this one gets a token, as the README's quick start says it. */
const TOKEN_LINE = 'export TOKEN=$(npm run -s token -- --sub alice)';

function say(line: string) {
  process.stdout.write(`[start] ${line}\n`);
}

// The wait before each restart of a service that keeps dying, the last one repeated.
const RESTART_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000];
// A service that ran this long before it died was healthy: its restart waits the shortest delay again.
const HEALTHY_RUN_MS = 60_000;

/** The API or a worker: one process at a time, started again whenever it exits while the stack runs. */
interface Service {
  name: string;
  entry: string;
  nodeFlags: string[];
  env: NodeJS.ProcessEnv;
  child?: ChildProcess;
  failures: number;
  restart?: NodeJS.Timeout;
}

const servers: ManagedProcess[] = [];
const services: Service[] = [];
let proxy: RoundRobinProxy | undefined;
let stopping = false;
let hurried = false;

function run(service: Service): void {
  if (stopping) return;
  const child = spawn(process.execPath, [...service.nodeFlags, '--import', 'tsx', service.entry], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, ...service.env },
  });
  service.child = child;
  const startedAt = Date.now();
  say(`${service.name} started (pid ${child.pid})`);
  child.on('error', (err) => say(`${service.name} (pid ${child.pid}): ${err.message}`));
  child.on('exit', (code, signal) => {
    if (stopping) return;
    if (Date.now() - startedAt >= HEALTHY_RUN_MS) service.failures = 0;
    const delay = RESTART_DELAYS_MS[Math.min(service.failures, RESTART_DELAYS_MS.length - 1)];
    service.failures++;
    say(`${service.name} (pid ${child.pid}) exited (${signal ?? code}); starting it again in ${delay / 1000} s (restart ${service.failures})`);
    service.restart = setTimeout(() => run(service), delay);
  });
}

function supervise(name: string, entry: string, nodeFlags: string[] = [], env: NodeJS.ProcessEnv = {}): void {
  const service: Service = { name, entry, nodeFlags, env, failures: 0 };
  services.push(service);
  run(service);
}

/** SIGTERM, and the exit; SIGKILL after `graceMs` (or at once, on a second Ctrl-C). */
function stopChild(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(hurried ? 'SIGKILL' : 'SIGTERM');
  });
}

function replicasWanted(argv: string[]): number {
  const at = argv.indexOf('--replicas');
  const given = at >= 0 ? argv[at + 1] : process.env.STORAGE_REPLICAS;
  const n = Number(given ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`--replicas (or STORAGE_REPLICAS) takes 1..16, not ${given}`);
  return n;
}

// The API's own bound on its stop (drain, then grace), and some room for the worker's.
let childGraceMs = 75_000;

async function shutdown(code: number): Promise<void> {
  if (stopping) {
    if (!hurried) {
      hurried = true;
      say('stopping now: the worker and the API get no more time');
      for (const service of services) service.child?.kill('SIGKILL');
    }
    return;
  }
  stopping = true;
  say('stopping');
  for (const service of services) clearTimeout(service.restart);
  await Promise.all(services.map((service) => stopChild(service.child, childGraceMs)));
  await proxy?.close();
  for (const server of servers.reverse()) {
    say(`stopping ${server.name} (pid ${server.pid})`);
    await server.stop();
  }
  process.exit(code);
}

async function main() {
  const replicas = replicasWanted(process.argv.slice(2));
  // Encrypted at rest as in production, unless the environment says otherwise (an empty value: not).
  process.env.STORAGE_S3_SSE ??= 'AES256';
  // The cache and the shared rate-limit budgets, as in production (an empty value: none).
  process.env.STORAGE_REDIS_URL ??= 'redis://127.0.0.1:6379';
  const stack = devStackOptions();
  // The console links each run to its page in the Temporal UI this command starts.
  process.env.STORAGE_TEMPORAL_UI_URL ??= `http://127.0.0.1:${stack.temporalUiPort}`;
  const { config, usesDevSecret } = configWithDevSecrets();
  childGraceMs = config.http.drainMs + config.http.graceMs + 15_000;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));
  // A fault of this process must still stop what it started. (Once stopping, a terminal that was
  // closed fails every write: saying so again would only fail again.)
  process.on('uncaughtException', (err) => {
    if (!stopping) process.stderr.write(`[start] failed: ${err.stack ?? err.message}\n`);
    void shutdown(1);
  });

  const local = await startLocalStack(config, { ...stack, onSpawned: (server) => servers.push(server) });
  const state = (server: ManagedProcess) => (server.started ? `started (pid ${server.pid})` : 'already running');
  if (local.temporal) say(`Temporal ${state(local.temporal)} on ${config.temporal.address}`);
  if (local.seaweed) say(`SeaweedFS ${state(local.seaweed)} with S3 on ${config.s3.endpoint}`);
  if (local.redis) say(`Redis ${state(local.redis)} on ${config.redisUrl}`);

  await setUp(config, say);

  if (replicas === 1) {
    supervise('worker', 'worker/main.ts');
    supervise('api', 'api/server.ts', API_NODE_FLAGS);
  } else {
    const ports = await freePorts(replicas);
    ports.forEach((port, i) => {
      supervise(`worker ${i + 1}`, 'worker/main.ts');
      supervise(`api ${i + 1}`, 'api/server.ts', API_NODE_FLAGS, { STORAGE_HOST: '127.0.0.1', STORAGE_PORT: String(port) });
    });
    proxy = await startRoundRobinProxy({ backends: ports.map((p) => `http://127.0.0.1:${p}`), port: config.http.port, host: config.http.host });
    say(
      `${replicas} APIs on ${ports.map((p) => `127.0.0.1:${p}`).join(', ')} behind the round-robin proxy on ${config.http.host}:${config.http.port}; ${replicas} workers`,
    );
  }

  const api = `http://${config.http.host}:${config.http.port}`;
  await waitFor(
    'the API (/health/ready)',
    async () => {
      try {
        const res = await fetch(`${api}/health/ready`, { signal: AbortSignal.timeout(3000) });
        await res.arrayBuffer();
        return res.status === 200 && (proxy?.backends().every((b) => b.ready) ?? true);
      } catch {
        return false;
      }
    },
    120_000,
  );

  say('ready');
  if (usesDevSecret) {
    // A fresh token in the fragment, which the browser never sends: the console takes it and clears the address bar.
    const token = await mintDevToken(config.auth, { sub: 'alice', expiresIn: 8 * 3600 });
    say(`console       ${api}/console#token=${token}  (signed in as alice for 8 hours)`);
    const adminToken = await mintDevToken(config.auth, { sub: 'admin', roles: [ROLES.admin], expiresIn: 8 * 3600 });
    say(`as an admin   ${api}/console#token=${adminToken}`);
  } else {
    say(`console       ${api}/console  (sign in with a token from your Auth Service)`);
  }
  say(`API           ${api}/api/v2`);
  say(`health        ${api}/health`);
  say(`OpenAPI       ${api}/openapi.json  (rendered: ${api}/docs)`);
  say(`Temporal UI   http://127.0.0.1:${stack.temporalUiPort}`);
  say(`S3            ${config.s3.endpoint} (bucket ${config.s3.bucket})`);
  if (config.redisUrl) say(`Redis         ${config.redisUrl} (cache and rate-limit budgets)`);
  if (usesDevSecret) {
    // The README's quick start begins with this line, as printed here (test/quickstart.test.ts).
    say(`token         ${TOKEN_LINE}`);
    say(`try           curl -H "Authorization: Bearer $TOKEN" ${api}/api/v2/assets`);
    say('more tokens   npm run -s token -- --sub bob --group campaign-42 [--role storage:admin]');
  }
  say('A worker or an API that dies is started again; Ctrl-C stops everything this command started.');
}

main().catch(async (err) => {
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
