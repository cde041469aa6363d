/**
 * `npm start` survives a crashed child (issue 23): scripts/dev.ts runs as a process of its own, on
 * ports, a database and a data folder of its own (never npm start's), and starts its own Temporal dev
 * server, SeaweedFS and Redis. The worker is SIGKILLed and must come back and poll; then the API,
 * which must come back and answer; the rest of the stack stays up. Ctrl-C (SIGINT) must then leave
 * none of the processes it started, checked by pid.
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { dropDatabase } from '../lib/platform/db';
import { ROOT } from '../scripts/stack';
import { spawnService, waitUntil, type ServiceProcess } from './support/processes';

// npm start's own ports: a port drawn for this test is never one of them.
const NPM_START_PORTS = [8005, 7233, 8233, 8333, 9333, 8080, 8888, 23646, 6379];

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` free ports between 20000 and 29999 whose +10000 twin is free too (SeaweedFS serves gRPC
 * there), drawn at random, so that two runs on one machine do not meet.
 */
async function freePortsWithTwins(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 1000; tries++) {
    const port = 20000 + Math.floor(Math.random() * 10000);
    if (NPM_START_PORTS.includes(port) || ports.includes(port) || ports.includes(port - 10000)) continue;
    if ((await bindable(port)) && (await bindable(port + 10000))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free ports`);
  return ports;
}

/** Alive, and not a zombie waiting for its parent. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

interface Stack extends ServiceProcess {
  /** Each `<name> started (pid N)` line's pid, in order. */
  pids(name: string): number[];
}

function startNpmStart(env: NodeJS.ProcessEnv): Stack {
  const stack = spawnService('scripts/dev.ts', env);
  return {
    ...stack,
    pids: (name) => [...stack.output().matchAll(new RegExp(`^\\[start\\] ${name} started \\(pid (\\d+)\\)`, 'gm'))].map((m) => Number(m[1])),
  };
}

let stack: Stack | undefined;
let databaseUrl: string;
afterAll(async () => {
  // A failed run still leaves nothing: the runner is stopped as Ctrl-C would, then whatever it named is killed.
  if (stack && stack.child.exitCode === null) {
    const exited = new Promise((resolve) => stack!.child.once('exit', resolve));
    stack.child.kill('SIGINT');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
  }
  if (stack) {
    for (const name of ['Temporal', 'SeaweedFS', 'Redis', 'worker', 'api']) {
      for (const pid of stack.pids(name)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  if (databaseUrl) await dropDatabase(databaseUrl);
}, 120_000);

it('starts the worker and the API again when either is killed, keeps the stack up, and leaves no process of its own after Ctrl-C', async () => {
  const [api, temporalAt, temporalUi, redis, s3, master, volume, filer, admin] = await freePortsWithTwins(9);
  const database = new URL(process.env.STORAGE_DATABASE_URL!);
  database.pathname = `/storage_npm_start_${process.pid}`;
  databaseUrl = database.toString();
  const dataDir = path.join(process.env.STORAGE_TEST_RUN_DIR!, `npm-start-${process.pid}`);
  const taskQueue = 'storage';
  stack = startNpmStart({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    STORAGE_ENVIRONMENT: 'development',
    STORAGE_LOG_LEVEL: 'warn',
    STORAGE_PORT: String(api),
    STORAGE_DATABASE_URL: databaseUrl,
    STORAGE_TEMPORAL_ADDRESS: `127.0.0.1:${temporalAt}`,
    STORAGE_TEMPORAL_TASK_QUEUE: taskQueue,
    STORAGE_S3_ENDPOINT_URL: `http://127.0.0.1:${s3}`,
    STORAGE_REDIS_URL: `redis://127.0.0.1:${redis}`,
    STORAGE_AUTH_JWKS_URL: process.env.STORAGE_AUTH_JWKS_URL,
    STORAGE_AUTH_ISSUER: process.env.STORAGE_AUTH_ISSUER,
    STORAGE_AUTH_AUDIENCE: process.env.STORAGE_AUTH_AUDIENCE,
    STORAGE_URL_SIGNING_KEYS: process.env.STORAGE_URL_SIGNING_KEYS,
    STORAGE_BACKUP_ENABLED: 'false',
    STORAGE_DEV_DATA_DIR: dataDir,
    STORAGE_DEV_TEMPORAL_UI_PORT: String(temporalUi),
    STORAGE_DEV_SEAWEED_PORTS: `master=${master},volume=${volume},filer=${filer},admin=${admin}`,
  });
  const { child, output, pids } = stack;
  const running = () => {
    if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${output().slice(-5000)}`);
    return true;
  };
  await waitUntil('npm start to be ready', async () => running() && /^\[start\] ready$/m.test(output()), 300_000, 250);
  const [temporalPid] = pids('Temporal');
  const [seaweedPid] = pids('SeaweedFS');
  const [redisPid] = pids('Redis');
  expect([temporalPid, seaweedPid, redisPid].every((pid) => pid > 0 && alive(pid))).toBe(true);

  const connection = await Connection.connect({ address: `127.0.0.1:${temporalAt}` });
  const pollingPids = async () => {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (pollers ?? []).map((p) => Number(String(p.identity).split('@')[0]));
  };
  const ready = async () => (await fetch(`http://127.0.0.1:${api}/health/ready`).catch(() => undefined))?.status === 200;
  try {
    // The worker, SIGKILLed: a new one is started and polls.
    const [firstWorker] = pids('worker');
    await waitUntil('the worker to poll', async () => running() && (await pollingPids()).includes(firstWorker), 120_000, 250);
    process.kill(firstWorker, 'SIGKILL');
    const secondWorker = await waitUntil('a new worker', async () => running() && pids('worker')[1], 60_000, 100);
    await waitUntil('the new worker to poll', async () => running() && (await pollingPids()).includes(secondWorker), 180_000, 250);
    expect(output()).toMatch(new RegExp(`worker \\(pid ${firstWorker}\\) exited \\(SIGKILL\\); starting it again in 1 s`));

    // The API, likewise: a new one answers on the same port.
    const [firstApi] = pids('api');
    process.kill(firstApi, 'SIGKILL');
    const secondApi = await waitUntil('a new API', async () => running() && pids('api')[1], 60_000, 100);
    await waitUntil('the new API to answer', async () => running() && ready(), 120_000, 250);
    expect(alive(secondApi)).toBe(true);
    // Nothing else went: the servers are the ones started first, and still there.
    expect([temporalPid, seaweedPid, redisPid].map(alive)).toEqual([true, true, true]);
  } finally {
    await connection.close();
  }

  // Ctrl-C: every process it started is gone once it has exited.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  const started = { Temporal: pids('Temporal'), SeaweedFS: pids('SeaweedFS'), Redis: pids('Redis'), worker: pids('worker'), api: pids('api') };
  const left = Object.entries(started).flatMap(([name, list]) =>
    list.filter(alive).map((pid) => `${name} ${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`),
  );
  expect(left).toEqual([]);
  expect(started).toMatchObject({ Temporal: [temporalPid], SeaweedFS: [seaweedPid], Redis: [redisPid] });
}, 600_000);

it("the compose file's supervisor does the same: it restarts the API and the worker", () => {
  const compose = parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8').replace(/\$\{[^}]*\}/g, 'x'));
  expect({ api: compose.services.api.restart, worker: compose.services.worker.restart }).toEqual({ api: 'unless-stopped', worker: 'unless-stopped' });
});
