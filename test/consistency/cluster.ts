/**
 * The service under test as separate processes the faults can kill: API replicas and workers (spawned
 * as `npm start` would run them), all on one test service's database, bucket and task queue, their S3
 * through the fault proxy, their cache in a Redis of the run's own (never the system's on 6379).
 */
import { temporal as proto } from '@temporalio/proto';
import fs from 'node:fs';
import path from 'node:path';
import { freePorts, startRedis, type ManagedProcess } from '../../scripts/stack';
import type { TestContext } from '../support/context';
import { envFor, spawnService, waitUntil, type ServiceProcess } from '../support/processes';
import { startS3Proxy, type S3Proxy } from '../support/s3Proxy';
import { TEST_DATA } from '../support/testStack';

export const MAX_VERSIONS = 4;

export interface Cluster {
  /** `down` while a fault has it killed: the clients send to the others meanwhile. */
  apis: Array<{ url: string; port: number; process: ServiceProcess; down?: boolean }>;
  workers: ServiceProcess[];
  proxy: S3Proxy;
  redis: { port: number; url: string; process?: ManagedProcess };
  /** Settings the spawned processes share, beyond envFor's. */
  env: Record<string, string>;
}

export async function startRedisOn(port: number): Promise<ManagedProcess> {
  const dir = path.join(TEST_DATA, `consistency-redis-${port}`);
  fs.mkdirSync(dir, { recursive: true });
  return startRedis({ port, dataDir: dir, logFile: path.join(dir, 'redis.log') });
}

/** The cluster's request timeout: the checker's requests are small, and a minute is ample under its faults. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** How long after it began no API can still be staging to a multipart upload (activities/uploads/uploads.ts). */
export const STAGING_BOUND_MS = REQUEST_TIMEOUT_MS + 60_000;

export async function startCluster(ctx: TestContext, redisPort: number, replicas = { apis: 2, workers: 2 }): Promise<Cluster> {
  const proxy = await startS3Proxy(ctx.config.s3.endpoint!);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const env = {
    STORAGE_S3_ENDPOINT_URL: proxy.url,
    STORAGE_REDIS_URL: redisUrl,
    STORAGE_MAX_VERSIONS: String(MAX_VERSIONS),
    STORAGE_UPLOAD_WAIT_SECONDS: '10',
    // Sessions whose client vanished (an answer lost to a fault) must end within the quiet phase's
    // bound for "no session open beyond its bounds" to be checked at all: the bounds, shortened.
    STORAGE_UPLOAD_STALL_SECONDS: '20',
    STORAGE_RESUMABLE_STALL_SECONDS: '20',
    // And the bound past which a lifecycle run aborts what a dead API staged (its request timeout + 60 s).
    STORAGE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  };
  const cluster: Cluster = { apis: [], workers: [], proxy, redis: { port: redisPort, url: redisUrl }, env };
  const ports = await freePorts(replicas.apis);
  for (const port of ports) cluster.apis.push({ port, url: `http://127.0.0.1:${port}`, process: spawnApi(ctx, cluster, port) });
  for (let i = 0; i < replicas.workers; i++) cluster.workers.push(spawnWorker(ctx, cluster));
  await untilServing(ctx, cluster);
  return cluster;
}

export function spawnApi(ctx: TestContext, cluster: Cluster, port: number): ServiceProcess {
  return spawnService('api/server.ts', envFor(ctx.config, { ...cluster.env, STORAGE_PORT: String(port) }));
}

export function spawnWorker(ctx: TestContext, cluster: Cluster): ServiceProcess {
  return spawnService('worker/main.ts', envFor(ctx.config, cluster.env));
}

/** Every API answers /health/live and every worker polls the task queue (bounded: 120 s). */
export async function untilServing(ctx: TestContext, cluster: Cluster): Promise<void> {
  await waitUntil(
    'every API replica to answer and every worker to poll',
    async () => {
      const dead = [...cluster.apis.map((a) => a.process), ...cluster.workers].find((p) => p.child.exitCode !== null);
      if (dead) throw new Error(`a service process exited by itself:\n${dead.output().slice(-3000)}`);
      const live = await Promise.all(
        cluster.apis.map((a) =>
          fetch(`${a.url}/health/live`).then(
            (r) => r.ok,
            () => false,
          ),
        ),
      );
      if (live.includes(false)) return false;
      const polling = await pollingPids(ctx);
      return cluster.workers.every((w) => polling.includes(w.child.pid!));
    },
    120_000,
    250,
  );
}

async function pollingPids(ctx: TestContext): Promise<number[]> {
  const { pollers } = await ctx.temporal.client.workflowService.describeTaskQueue({
    namespace: ctx.config.temporal.namespace,
    taskQueue: { name: ctx.config.temporal.taskQueue },
    taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  // A killed worker's poller stays listed for a while; a live one's identity is `pid@host`.
  return (pollers ?? [])
    .filter((p) => Date.now() - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < 70_000)
    .map((p) => Number(String(p.identity).split('@')[0]));
}

export async function stopCluster(cluster: Cluster | undefined): Promise<void> {
  if (!cluster) return;
  await Promise.all([...cluster.apis.map((a) => a.process.kill()), ...cluster.workers.map((w) => w.kill())]);
  await cluster.proxy.close();
}
