import { z } from 'zod';

const MiB = 1024 * 1024;

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();
const optionalUrl = z
  .string()
  .url()
  .optional()
  .or(z.literal('').transform(() => undefined));

// Existing deployments write the database URL in SQLAlchemy's form (`postgresql+asyncpg://`).
const databaseUrl = z
  .string()
  .regex(/^postgres(ql)?(\+[a-z0-9]+)?:\/\//, 'must be a postgresql:// URL')
  .transform((v) => v.replace(/^postgres(ql)?\+[a-z0-9]+:\/\//, 'postgresql://'));

const cron = z
  .string()
  .regex(/^\s*\S+(\s+\S+){4}\s*$/, 'must be a five-field cron expression')
  .transform((v) => v.trim());

/** Every STORAGE_* variable the service reads, with its default. README.md lists the same set. */
export const configSchema = z.object({
  STORAGE_SERVICE_NAME: z.string().min(1).default('storage-service'),
  STORAGE_PORT: z.coerce.number().int().min(1).max(65535).default(8005),
  STORAGE_HOST: z.string().min(1).default('127.0.0.1'),
  STORAGE_ENVIRONMENT: z.enum(['development', 'test', 'staging', 'production']).default('development'),
  STORAGE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  STORAGE_DATABASE_URL: databaseUrl.default('postgresql://postgres@127.0.0.1:5432/storage_db'),
  STORAGE_DATABASE_POOL_MAX: positiveInt.default(10),
  STORAGE_S3_ENDPOINT_URL: z.string().url().default('http://127.0.0.1:8333'),
  STORAGE_S3_ACCESS_KEY_ID: z.string().min(1).default('storage-dev'),
  STORAGE_S3_SECRET_ACCESS_KEY: z.string().min(1).default('storage-dev-secret'),
  STORAGE_S3_BUCKET_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
    .default('dnd-storage'),
  STORAGE_S3_REGION: z.string().min(1).default('us-east-1'),
  STORAGE_S3_FORCE_PATH_STYLE: bool.default(true),
  STORAGE_REDIS_URL: optionalUrl,
  STORAGE_MESSAGE_HUB_URL: optionalUrl,
  STORAGE_MAX_UPLOAD_SIZE: positiveInt.default(100 * MiB),
  STORAGE_MAX_VERSIONS: positiveInt.default(10),
  STORAGE_VERSION_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_BACKUP_ENABLED: bool.default(true),
  STORAGE_BACKUP_RETENTION_DAYS: positiveInt.default(30),
  STORAGE_BACKUP_BUCKET_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
    .optional(),
  STORAGE_BACKUP_CRON: cron.default('0 2 * * *'),
  STORAGE_LIFECYCLE_CRON: cron.default('0 3 * * *'),
  STORAGE_TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  STORAGE_TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  STORAGE_TEMPORAL_TASK_QUEUE: z.string().min(1).default('storage'),
  STORAGE_UPLOAD_EXPIRY_HOURS: positiveInt.default(24),
  STORAGE_UPLOAD_WAIT_SECONDS: nonNegativeInt.default(30),
  STORAGE_HEALTH_TIMEOUT_MS: positiveInt.default(2000),
  STORAGE_OUTBOX_RETRY_MAX_SECONDS: positiveInt.default(300),
  STORAGE_INGEST_ALLOWED_HOSTS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean),
    ),
});

export type ConfigEnv = z.infer<typeof configSchema>;

export interface Config {
  serviceName: string;
  environment: ConfigEnv['STORAGE_ENVIRONMENT'];
  logLevel: ConfigEnv['STORAGE_LOG_LEVEL'];
  http: { host: string; port: number };
  database: { url: string; poolMax: number };
  s3: {
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    region: string;
    bucket: string;
    backupBucket: string;
    forcePathStyle: boolean;
  };
  temporal: { address: string; namespace: string; taskQueue: string };
  redisUrl?: string;
  messageHubUrl?: string;
  uploads: { maxSizeBytes: number; expiryHours: number; waitSeconds: number };
  versions: { max: number; retentionDays: number };
  backups: { enabled: boolean; retentionDays: number; cron: string };
  lifecycle: { cron: string };
  healthTimeoutMs: number;
  events: { retryMaxSeconds: number };
  ingest: { allowedHosts: string[] };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the STORAGE_* variables; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const picked = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('STORAGE_')));
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message} (got ${JSON.stringify(picked[String(issue.path[0])])})`);
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  return {
    serviceName: e.STORAGE_SERVICE_NAME,
    environment: e.STORAGE_ENVIRONMENT,
    logLevel: e.STORAGE_LOG_LEVEL,
    http: { host: e.STORAGE_HOST, port: e.STORAGE_PORT },
    database: { url: e.STORAGE_DATABASE_URL, poolMax: e.STORAGE_DATABASE_POOL_MAX },
    s3: {
      endpoint: e.STORAGE_S3_ENDPOINT_URL,
      accessKeyId: e.STORAGE_S3_ACCESS_KEY_ID,
      secretAccessKey: e.STORAGE_S3_SECRET_ACCESS_KEY,
      region: e.STORAGE_S3_REGION,
      bucket: e.STORAGE_S3_BUCKET_NAME,
      backupBucket: e.STORAGE_BACKUP_BUCKET_NAME ?? `${e.STORAGE_S3_BUCKET_NAME}-backups`,
      forcePathStyle: e.STORAGE_S3_FORCE_PATH_STYLE,
    },
    temporal: {
      address: e.STORAGE_TEMPORAL_ADDRESS,
      namespace: e.STORAGE_TEMPORAL_NAMESPACE,
      taskQueue: e.STORAGE_TEMPORAL_TASK_QUEUE,
    },
    redisUrl: e.STORAGE_REDIS_URL,
    messageHubUrl: e.STORAGE_MESSAGE_HUB_URL,
    uploads: {
      maxSizeBytes: e.STORAGE_MAX_UPLOAD_SIZE,
      expiryHours: e.STORAGE_UPLOAD_EXPIRY_HOURS,
      waitSeconds: e.STORAGE_UPLOAD_WAIT_SECONDS,
    },
    versions: { max: e.STORAGE_MAX_VERSIONS, retentionDays: e.STORAGE_VERSION_RETENTION_DAYS },
    backups: { enabled: e.STORAGE_BACKUP_ENABLED, retentionDays: e.STORAGE_BACKUP_RETENTION_DAYS, cron: e.STORAGE_BACKUP_CRON },
    lifecycle: { cron: e.STORAGE_LIFECYCLE_CRON },
    healthTimeoutMs: e.STORAGE_HEALTH_TIMEOUT_MS,
    events: { retryMaxSeconds: e.STORAGE_OUTBOX_RETRY_MAX_SECONDS },
    ingest: { allowedHosts: e.STORAGE_INGEST_ALLOWED_HOSTS },
  };
}

/** Entry points call this: a bad configuration stops the process with one line per bad variable. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
