import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Connection } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { ServerSideEncryption } from './config';
import { pingDatabase, type Db } from './db';
import { ObjectStoreUnavailableError } from './errors';

export type CheckName = 'database' | 'object_store' | 'temporal';
export interface CheckResult {
  status: 'ok' | 'down';
  latency_ms: number;
  error?: string;
}
/** The object store's check also says how what the service writes is encrypted at rest. */
export type HealthReport = Record<CheckName, CheckResult> & {
  object_store: CheckResult & { server_side_encryption: ServerSideEncryption['mode'] | 'none' };
  /** Only with STORAGE_REDIS_URL; while it is down the API goes on, with budgets per process and no cache. */
  redis?: CheckResult;
};

export interface HealthDeps {
  db: Db;
  s3: S3Client;
  bucket: string;
  temporal: Connection;
  redis?: Redis;
  sse?: ServerSideEncryption;
  timeoutMs: number;
}

async function timed(timeoutMs: number, probe: (signal: AbortSignal) => Promise<unknown>): Promise<CheckResult> {
  const started = performance.now();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await Promise.race([probe(controller.signal), timeout]);
    return { status: 'ok', latency_ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { status: 'down', latency_ms: Math.round(performance.now() - started), error: (err as Error).message || String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Asks each dependency one cheap question, all at once, each bounded by its own timeout. */
export async function checkDependencies(deps: HealthDeps): Promise<HealthReport> {
  const { redis } = deps;
  const [database, object_store, temporal, redisCheck] = await Promise.all([
    timed(deps.timeoutMs, () => pingDatabase(deps.db)),
    timed(deps.timeoutMs, (abortSignal) => headBucket(deps.s3, deps.bucket, abortSignal)),
    timed(deps.timeoutMs, (abortSignal) => deps.temporal.withAbortSignal(abortSignal, () => deps.temporal.workflowService.getSystemInfo({}))),
    redis && timed(deps.timeoutMs, () => pingRedis(redis)),
  ]);
  return {
    database,
    object_store: { ...object_store, server_side_encryption: deps.sse?.mode ?? 'none' },
    temporal,
    ...(redisCheck ? { redis: redisCheck } : {}),
  };
}

async function pingRedis(redis: Redis): Promise<void> {
  // The client queues nothing while disconnected: its state is the answer, at once.
  if (redis.status !== 'ready') {
    throw new Error(`Redis is ${redis.status}: rate limits fall back to in-memory budgets per process, reads to PostgreSQL and S3 (no cache)`);
  }
  await redis.ping();
}

async function headBucket(s3: S3Client, bucket: string, abortSignal: AbortSignal): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal });
  } catch (err) {
    // HEAD answers carry no body, so the SDK's own message is only "UnknownError" or "NotFound".
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) throw new Error(`bucket ${bucket} does not exist`);
    if (status === 403) throw new Error(`access to bucket ${bucket} denied (check STORAGE_S3_ACCESS_KEY_ID / SECRET)`);
    // The operator reading this may be told where the store is, and why it cannot be reached.
    if (err instanceof ObjectStoreUnavailableError) throw new Error(`unreachable: ${(err.cause as Error)?.message ?? String(err.cause)}`);
    throw err;
  }
}
