/**
 * `npm start`: starts the local stack (reusing servers already up), prepares the catalog and the
 * buckets, runs the worker and the API, and stops what it started on Ctrl-C.
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
import { API_NODE_FLAGS, freePorts, ROOT, startLocalStack, TEMPORAL_UI_PORT, waitFor, type ManagedProcess } from './stack';

function say(line: string) {
  process.stdout.write(`[start] ${line}\n`);
}

function runService(name: string, entry: string, nodeFlags: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', entry], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping the stack`);
      void shutdown(1);
    }
  });
  return child;
}

const servers: ManagedProcess[] = [];
const services: ChildProcess[] = [];
let proxy: RoundRobinProxy | undefined;
let stopping = false;

function replicasWanted(argv: string[]): number {
  const at = argv.indexOf('--replicas');
  const given = at >= 0 ? argv[at + 1] : process.env.STORAGE_REPLICAS;
  const n = Number(given ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`--replicas (or STORAGE_REPLICAS) takes 1..16, not ${given}`);
  return n;
}

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  say('stopping');
  await Promise.all(
    services.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await proxy?.close();
  for (const server of servers.reverse()) {
    if (server.started) say(`stopping ${server.name}`);
    await server.stop();
  }
  process.exit(code);
}

async function main() {
  const replicas = replicasWanted(process.argv.slice(2));
  // Encrypted at rest as in production, unless the environment says otherwise (an empty value: not).
  process.env.STORAGE_S3_SSE ??= 'AES256';
  const { config, usesDevSecret } = configWithDevSecrets();
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  const { temporal, seaweed } = await startLocalStack(config);
  if (temporal) {
    servers.push(temporal);
    say(`Temporal ${temporal.started ? 'started' : 'already running'} on ${config.temporal.address}`);
  }
  if (seaweed) {
    servers.push(seaweed);
    say(`SeaweedFS ${seaweed.started ? 'started' : 'already running'} with S3 on ${config.s3.endpoint}`);
  }

  await setUp(config, say);

  if (replicas === 1) {
    services.push(runService('worker', 'worker/main.ts'));
    services.push(runService('api', 'api/server.ts', API_NODE_FLAGS));
  } else {
    const ports = await freePorts(replicas);
    ports.forEach((port, i) => {
      services.push(runService(`worker ${i + 1}`, 'worker/main.ts'));
      services.push(runService(`api ${i + 1}`, 'api/server.ts', API_NODE_FLAGS, { STORAGE_HOST: '127.0.0.1', STORAGE_PORT: String(port) }));
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
  say(`API           ${api}/api/v2`);
  say(`health        ${api}/health`);
  say(`OpenAPI       ${api}/openapi.json  (rendered: ${api}/docs)`);
  say(`Temporal UI   http://127.0.0.1:${TEMPORAL_UI_PORT}`);
  say(`S3            ${config.s3.endpoint} (bucket ${config.s3.bucket})`);
  if (usesDevSecret) {
    const token = await mintDevToken(config.auth, { sub: 'dev-admin', roles: [ROLES.admin] });
    say(`admin token   ${token}`);
    say(`try           curl -H "Authorization: Bearer ${token}" ${api}/api/v2/assets`);
    say('more tokens   npm run token -- --sub alice --group campaign-42 [--role storage:admin]');
  }
  say('Ctrl-C stops everything this command started.');
}

main().catch(async (err) => {
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
