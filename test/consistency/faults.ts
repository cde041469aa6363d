/**
 * The fault schedule a seed makes (what, when, for how long, which replica) and its injection: a worker
 * or an API replica SIGKILLed and started again, the store answering 503 to a share of requests (after
 * doing them: the answer is what is lost), PostgreSQL dropping the service's connections, Redis stopped.
 */
import pg from 'pg';
import type { TestContext } from '../support/context';
import { waitUntil } from '../support/processes';
import { spawnApi, spawnWorker, startRedisOn, type Cluster } from './cluster';
import type { History } from './history';
import { rngOf, type Rng } from './rng';

export const FAULT_WEIGHTS = { killWorker: 3, killApi: 3, s3Errors: 3, pgTerminate: 3, redisStop: 2 };
export type FaultKind = keyof typeof FAULT_WEIGHTS;

export interface FaultSpec {
  atMs: number;
  kind: FaultKind;
  durationMs: number;
  target: number;
  /** For s3Errors: the share of the store's answers replaced by 503. */
  share: number;
}

const FAULT_STREAM = 1000;

export function faultSchedule(seed: number, durationMs: number): FaultSpec[] {
  const rng = rngOf(seed, FAULT_STREAM);
  const schedule: FaultSpec[] = [];
  for (let at = rng.int(2_000, 5_000); at < durationMs;) {
    const spec = { atMs: at, kind: rng.weighted(FAULT_WEIGHTS), durationMs: rng.int(1_000, 5_000), target: rng.int(0, 1), share: 0.1 + rng.next() * 0.4 };
    schedule.push(spec);
    at += spec.durationMs + rng.int(1_500, 6_000);
  }
  return schedule;
}

export interface FaultDeps {
  ctx: TestContext;
  cluster: Cluster;
  history: History;
  seed: number;
}

/** Injects the schedule from now on, each fault healed before the next; stops injecting at `deadline`. */
export async function injectFaults(schedule: FaultSpec[], deps: FaultDeps, deadline: number): Promise<number> {
  const start = Date.now();
  const rolls = rngOf(deps.seed, FAULT_STREAM + 1);
  let injected = 0;
  for (const [index, fault] of schedule.entries()) {
    const wait = start + fault.atMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (Date.now() >= deadline) break;
    const entry = deps.history.begin({ client: -1, index, kind: `fault:${fault.kind}`, value: describe(fault) });
    const note = await INJECTORS[fault.kind](fault, deps, rolls).catch((err: unknown) => `injection failed: ${String(err)}`);
    deps.history.end(entry, 200, note);
    injected++;
  }
  return injected;
}

function describe(fault: FaultSpec): string {
  return `${fault.durationMs} ms, target ${fault.target}${fault.kind === 's3Errors' ? `, share ${fault.share.toFixed(2)}` : ''}`;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Injector = (fault: FaultSpec, deps: FaultDeps, rolls: Rng) => Promise<string>;

const INJECTORS: Record<FaultKind, Injector> = {
  killWorker: async (fault, { ctx, cluster }) => {
    const i = fault.target % cluster.workers.length;
    const pid = cluster.workers[i].child.pid;
    await cluster.workers[i].kill();
    await pause(fault.durationMs);
    cluster.workers[i] = spawnWorker(ctx, cluster);
    return `worker ${pid} killed, ${cluster.workers[i].child.pid} started`;
  },
  killApi: async (fault, { ctx, cluster }) => {
    const api = cluster.apis[fault.target % cluster.apis.length];
    api.down = true;
    await api.process.kill();
    await pause(fault.durationMs);
    api.process = spawnApi(ctx, cluster, api.port);
    await waitUntil(
      `API on ${api.url} to answer again`,
      () =>
        fetch(`${api.url}/health/live`).then(
          (r) => r.ok,
          () => false,
        ),
      90_000,
      200,
    );
    api.down = false;
    return `API ${api.url} killed and back`;
  },
  s3Errors: async (fault, { cluster }, rolls) => {
    let replaced = 0;
    const slowDown = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>');
    cluster.proxy.rewriteAnswers(
      () => rolls.chance(fault.share),
      () => {
        replaced++;
        return { status: 503, headers: { 'content-type': 'application/xml' }, body: slowDown };
      },
    );
    await pause(fault.durationMs);
    cluster.proxy.rewriteAnswers();
    return `${replaced} S3 answers replaced by 503`;
  },
  pgTerminate: async (_fault, { ctx }) => {
    const client = new pg.Client({ connectionString: ctx.config.database.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      return `${rows[0].n} PostgreSQL backends terminated`;
    } finally {
      await client.end();
    }
  },
  redisStop: async (fault, { cluster }) => {
    await cluster.redis.process?.stop();
    await pause(fault.durationMs);
    cluster.redis.process = await startRedisOn(cluster.redis.port);
    return `Redis on ${cluster.redis.port} stopped and started again`;
  },
};
