import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Connection } from '@temporalio/client';
import type { Db } from './db';

export type CheckName = 'database' | 'object_store' | 'temporal';
export interface CheckResult {
  status: 'ok' | 'down';
  latency_ms: number;
  error?: string;
}
export type HealthReport = Record<CheckName, CheckResult>;

export interface HealthDeps {
  db: Db;
  s3: S3Client;
  bucket: string;
  temporal: Connection;
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
  const [database, object_store, temporal] = await Promise.all([
    timed(deps.timeoutMs, () => deps.db.raw('SELECT 1')),
    timed(deps.timeoutMs, (abortSignal) => headBucket(deps.s3, deps.bucket, abortSignal)),
    timed(deps.timeoutMs, (abortSignal) => deps.temporal.withAbortSignal(abortSignal, () => deps.temporal.workflowService.getSystemInfo({}))),
  ]);
  return { database, object_store, temporal };
}

async function headBucket(s3: S3Client, bucket: string, abortSignal: AbortSignal): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal });
  } catch (err) {
    // HEAD answers carry no body, so the SDK's own message is only "UnknownError" or "NotFound".
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404) throw new Error(`bucket ${bucket} does not exist`);
    if (status === 403) throw new Error(`access to bucket ${bucket} denied (check STORAGE_S3_ACCESS_KEY_ID / SECRET)`);
    throw err;
  }
}
