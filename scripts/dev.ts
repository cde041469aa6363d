/**
 * `npm start`: starts the local stack (reusing servers already up), prepares the catalog and the
 * buckets, runs the worker and the API, and stops what it started on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfigOrExit } from '../lib/config';
import { setUp } from './setup';
import { API_NODE_FLAGS, DEV_SEAWEED_PORTS, ROOT, startSeaweed, startTemporal, waitFor, type ManagedProcess } from './stack';

const DATA = path.join(ROOT, '.data');
const TEMPORAL_UI_PORT = 8233;

function say(line: string) {
  process.stdout.write(`[start] ${line}\n`);
}

function isLoopback(hostport: string): boolean {
  const host = hostport.replace(/^[a-z]+:\/\//, '').split(/[:/]/)[0];
  return host === '127.0.0.1' || host === 'localhost';
}

function runService(name: string, entry: string, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', entry], { cwd: ROOT, stdio: 'inherit', env: process.env });
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
let stopping = false;

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
  for (const server of servers.reverse()) {
    if (server.started) say(`stopping ${server.name}`);
    await server.stop();
  }
  process.exit(code);
}

async function main() {
  const config = loadConfigOrExit();
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  const [temporalHost, temporalPort] = config.temporal.address.split(':');
  if (isLoopback(temporalHost)) {
    const temporal = await startTemporal({
      port: Number(temporalPort),
      uiPort: TEMPORAL_UI_PORT,
      dbFile: path.join(DATA, 'temporal', 'temporal.sqlite'),
      logFile: path.join(DATA, 'logs', 'temporal.log'),
      namespace: config.temporal.namespace,
    });
    servers.push(temporal);
    say(`Temporal ${temporal.started ? 'started' : 'already running'} on ${config.temporal.address}`);
  }

  const s3Url = new URL(config.s3.endpoint);
  if (isLoopback(config.s3.endpoint)) {
    const seaweed = await startSeaweed({
      ports: { ...DEV_SEAWEED_PORTS, s3: Number(s3Url.port || 80) },
      dataDir: path.join(DATA, 'seaweedfs'),
      logFile: path.join(DATA, 'logs', 'seaweedfs.log'),
      accessKeyId: config.s3.accessKeyId,
      secretAccessKey: config.s3.secretAccessKey,
    });
    servers.push(seaweed);
    say(`SeaweedFS ${seaweed.started ? 'started' : 'already running'} with S3 on ${config.s3.endpoint}`);
  }

  await setUp(config, say);

  services.push(runService('worker', 'worker/main.ts'));
  services.push(runService('api', 'api/server.ts', API_NODE_FLAGS));

  const api = `http://${config.http.host}:${config.http.port}`;
  await waitFor(
    'the API (/health/ready)',
    async () => {
      try {
        const res = await fetch(`${api}/health/ready`, { signal: AbortSignal.timeout(3000) });
        await res.arrayBuffer();
        return res.status === 200;
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
  say('Ctrl-C stops everything this command started.');
}

main().catch(async (err) => {
  process.stderr.write(`[start] failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
