import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Config } from '../../lib/platform/config';

const ROOT = path.resolve(__dirname, '..', '..');

/** The environment that makes a separate API or worker process serve the same service as `config`. */
export function envFor(config: Config, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    STORAGE_ENVIRONMENT: 'test',
    STORAGE_LOG_LEVEL: process.env.STORAGE_LOG_LEVEL ?? 'silent',
    STORAGE_DATABASE_URL: config.database.url,
    STORAGE_S3_ENDPOINT_URL: config.s3.endpoint,
    STORAGE_S3_ACCESS_KEY_ID: config.s3.accessKeyId,
    STORAGE_S3_SECRET_ACCESS_KEY: config.s3.secretAccessKey,
    STORAGE_S3_BUCKET_NAME: config.s3.bucket,
    STORAGE_TEMPORAL_ADDRESS: config.temporal.address,
    STORAGE_TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    STORAGE_MAX_UPLOAD_SIZE: String(config.uploads.maxSizeBytes),
    STORAGE_UPLOAD_WAIT_SECONDS: String(config.uploads.waitSeconds),
    STORAGE_AUTH_JWKS_URL: config.auth.jwksUrl,
    STORAGE_AUTH_ISSUER: config.auth.issuer,
    STORAGE_AUTH_AUDIENCE: config.auth.audience,
    STORAGE_URL_SIGNING_KEYS: config.urlSigningKeys.join(','),
    // A test's worker must not schedule backups on the shared test server.
    STORAGE_BACKUP_ENABLED: 'false',
    STORAGE_S3_SSE: config.s3.sse?.mode ?? '',
    // The run's budgets (test/globalSetup.ts), or the defaults.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('STORAGE_RATE_LIMIT'))),
    ...overrides,
  };
}

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  kill(): Promise<void>;
}

/**
 * Runs an entry point (`api/server.ts`, `worker/main.ts`, or a test's own, relative to the repo) as
 * a process of its own, so a test can kill it (SIGKILL, no shutdown).
 */
export function spawnService(entry: string, env: NodeJS.ProcessEnv): ServiceProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return {
    child,
    output: () => output,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A port nothing listens on now, for a process of its own to listen on. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
