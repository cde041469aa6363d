/**
 * `npm start` (scripts/dev.ts) as a process of a test: on ports, a database and a data folder of its
 * own (never npm start's, nor the test stack's), with its own Temporal dev server, SeaweedFS and
 * Redis; and what stops every process it named, whatever state it was left in.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { dropDatabase } from '../../lib/platform/db';
import { spawnService, type ServiceProcess } from './processes';

// npm start's own ports: a port drawn for a test is never one of them.
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
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

export interface DevStack extends ServiceProcess {
  /** The API's port, and what else a test talks to. */
  ports: { api: number; temporal: number };
  taskQueue: string;
  /** The environment it runs with (a shell beside it that runs `npm run token` needs the same). */
  env: NodeJS.ProcessEnv;
  /** Each `<name> started (pid N)` line's pid, in order. */
  pids(name: string): number[];
  /** Ctrl-C, waited for at most a minute; then every process it named is killed and its database dropped. */
  stop(): Promise<void>;
}

/** Starts scripts/dev.ts; `overrides` add to (or take from, as undefined) the environment it gets. */
export async function startDevStack(overrides: NodeJS.ProcessEnv = {}): Promise<DevStack> {
  const [api, temporalAt, temporalUi, redis, s3, master, volume, filer, admin] = await freePortsWithTwins(9);
  const database = new URL(process.env.STORAGE_DATABASE_URL!);
  database.pathname = `/storage_npm_start_${process.pid}_${api}`;
  const databaseUrl = database.toString();
  const taskQueue = 'storage';
  const env: NodeJS.ProcessEnv = {
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
    STORAGE_BACKUP_ENABLED: 'false',
    STORAGE_DEV_DATA_DIR: path.join(process.env.STORAGE_TEST_RUN_DIR!, `npm-start-${process.pid}-${api}`),
    STORAGE_DEV_TEMPORAL_UI_PORT: String(temporalUi),
    STORAGE_DEV_SEAWEED_PORTS: `master=${master},volume=${volume},filer=${filer},admin=${admin}`,
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const service = spawnService('scripts/dev.ts', env);
  const pids = (name: string) => [...service.output().matchAll(new RegExp(`^\\[start\\] ${name} started \\(pid (\\d+)\\)`, 'gm'))].map((m) => Number(m[1]));
  return {
    ...service,
    ports: { api, temporal: temporalAt },
    taskQueue,
    env,
    pids,
    stop: async () => {
      const { child } = service;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGINT');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
      }
      for (const name of ['Temporal', 'SeaweedFS', 'Redis', 'worker', 'api']) {
        for (const pid of pids(name)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      await dropDatabase(databaseUrl);
    },
  };
}
