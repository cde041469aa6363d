import { z } from 'zod';
import { MIN_SAMPLE_PERCENT } from './scrubSample';

const MiB = 1024 * 1024;

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();
// Unset (or empty) is unlimited.
const optionalLimit = z
  .union([z.literal('').transform(() => undefined), nonNegativeInt])
  .optional()
  .transform((v) => v ?? null);
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

const commaList = z
  .string()
  .default('')
  .transform((v) =>
    v
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

// A PEM pasted into one line of an env file keeps its line breaks as the two characters \n.
const pem = z
  .string()
  .optional()
  .transform((v) => (v ? v.replace(/\\n/g, '\n') : undefined));

const SYMMETRIC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const MIN_SECRET_BYTES = 32;

// What scripts/bootstrap.sh gives the local SeaweedFS: production refuses them.
const DEV_S3_CREDENTIALS = { accessKeyId: 'storage-dev', secretAccessKey: 'storage-dev-secret' };

/** Every STORAGE_* variable the service reads, with its default. docs/configuration.md lists the same set. */
export const configSchema = z.object({
  STORAGE_SERVICE_NAME: z.string().min(1).default('storage-service'),
  STORAGE_PORT: z.coerce.number().int().min(1).max(65535).default(8005),
  STORAGE_HOST: z.string().min(1).default('127.0.0.1'),
  STORAGE_SHUTDOWN_DRAIN_MS: nonNegativeInt.default(1000),
  STORAGE_SHUTDOWN_GRACE_MS: positiveInt.default(60_000),
  STORAGE_REQUEST_TIMEOUT_MS: positiveInt.default(300_000),
  STORAGE_ENVIRONMENT: z.enum(['development', 'test', 'staging', 'production']).default('development'),
  STORAGE_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  STORAGE_DATABASE_URL: databaseUrl.default('postgresql://postgres@127.0.0.1:5432/storage_db'),
  STORAGE_DATABASE_POOL_MAX: positiveInt.default(10),
  STORAGE_DATABASE_MIGRATION_URL: databaseUrl.optional(),
  STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE: bool.default(false),
  STORAGE_S3_ENDPOINT_URL: z.string().url().default('http://127.0.0.1:8333'),
  STORAGE_S3_ACCESS_KEY_ID: z.string().min(1).default(DEV_S3_CREDENTIALS.accessKeyId),
  STORAGE_S3_SECRET_ACCESS_KEY: z.string().min(1).default(DEV_S3_CREDENTIALS.secretAccessKey),
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
  STORAGE_QUOTA_BYTES_PER_OWNER: optionalLimit,
  STORAGE_QUOTA_ASSETS_PER_OWNER: optionalLimit,
  STORAGE_VERSION_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_BACKUP_ENABLED: bool.default(true),
  STORAGE_BACKUP_RETENTION_DAYS: positiveInt.default(30),
  STORAGE_BACKUP_BUCKET_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name')
    .optional(),
  STORAGE_BACKUP_CRON: cron.default('0 2 * * *'),
  STORAGE_BACKUP_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  STORAGE_BACKUP_RETRY_DELAY_SECONDS: positiveInt.default(900),
  STORAGE_BACKUP_RETRY_WINDOW_HOURS: positiveInt.default(6),
  // Restore drills (issue 28): a sample of the newest backup restored into a scratch prefix and checked.
  STORAGE_RESTORE_DRILL_CRON: cron.default('30 4 * * *'),
  STORAGE_RESTORE_DRILL_SAMPLE_ASSETS: z.coerce.number().int().min(1).max(1000).default(20),
  STORAGE_RESTORE_DRILL_SAMPLE_BYTES: positiveInt.default(1024 * 1024 * 1024),
  STORAGE_RESTORE_DRILL_PERIOD_HOURS: positiveInt.default(24),
  STORAGE_RESTORE_DRILL_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_RESTORE_DRILL_SCHEDULE_ID: z.string().optional(),
  STORAGE_AUDIT_LOG: z.enum(['on', 'off']).default('on'),
  STORAGE_AUDIT_RETENTION_DAYS: positiveInt.default(365),
  STORAGE_UPLOAD_SESSION_RETENTION_DAYS: positiveInt.default(30),
  STORAGE_OUTBOX_RETENTION_DAYS: positiveInt.default(30),
  STORAGE_LIFECYCLE_RUN_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_BACKUP_JOB_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_SCRUB_RETENTION_DAYS: positiveInt.default(90),
  STORAGE_SCRUB_CRON: cron.default('0 4 * * 0'),
  STORAGE_SCRUB_SCHEDULE_ID: z.string().optional(),
  STORAGE_SCRUB_GRACE_HOURS: z.coerce.number().nonnegative().default(24),
  STORAGE_SCRUB_SAMPLE_PERCENT: z.coerce.number().min(MIN_SAMPLE_PERCENT).max(100).default(25),
  STORAGE_SCRUB_MAX_BYTES_PER_SECOND: positiveInt.default(64 * MiB),
  // Unset: STORAGE_UPLOAD_EXPIRY_HOURS.
  STORAGE_SCRUB_MULTIPART_AGE_HOURS: z.coerce.number().nonnegative().optional(),
  STORAGE_LIFECYCLE_CRON: cron.default('0 3 * * *'),
  // Unset: derived from the task queue (worker/schedules.ts), so deployments sharing a namespace keep their own.
  STORAGE_LIFECYCLE_SCHEDULE_ID: z.string().optional(),
  STORAGE_BACKUP_SCHEDULE_ID: z.string().optional(),
  STORAGE_TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  STORAGE_TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  STORAGE_TEMPORAL_TASK_QUEUE: z.string().min(1).default('storage'),
  STORAGE_UPLOAD_EXPIRY_HOURS: positiveInt.default(24),
  STORAGE_UPLOAD_WAIT_SECONDS: nonNegativeInt.default(30),
  STORAGE_UPLOAD_STALL_SECONDS: positiveInt.default(300),
  STORAGE_RESUMABLE_STALL_SECONDS: positiveInt.default(3600),
  STORAGE_MAX_PENDING_UPLOADS: positiveInt.default(32),
  STORAGE_HEALTH_TIMEOUT_MS: positiveInt.default(2000),
  STORAGE_OUTBOX_RETRY_MAX_SECONDS: positiveInt.default(300),
  STORAGE_OUTBOX_PARK_AFTER_ATTEMPTS: positiveInt.default(10),
  STORAGE_INGEST_ALLOWED_HOSTS: commaList
    .transform((hosts) => hosts.map((h) => h.toLowerCase()))
    .pipe(z.array(z.string().regex(/^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/, 'each entry is host or host:port ([IPv6]:port), without scheme or path'))),
  STORAGE_INGEST_TIMEOUT_SECONDS: positiveInt.default(30),
  STORAGE_AUTH_MODE: z.enum(['jwt', 'off']).default('jwt'),
  STORAGE_AUTH_JWKS_URL: optionalUrl,
  STORAGE_AUTH_PUBLIC_KEY: pem,
  STORAGE_AUTH_JWT_SECRET: z
    .string()
    .refine((v) => Buffer.byteLength(v) >= MIN_SECRET_BYTES, `must be at least ${MIN_SECRET_BYTES} bytes`)
    .optional(),
  STORAGE_AUTH_ALGORITHMS: commaList.pipe(z.array(z.enum([...SYMMETRIC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as [string, ...string[]]))),
  STORAGE_AUTH_ISSUER: z.string().min(1).optional(),
  STORAGE_AUTH_AUDIENCE: z.string().min(1).optional(),
  STORAGE_AUTH_ROLES_CLAIM: z.string().min(1).default('roles'),
  STORAGE_AUTH_GROUPS_CLAIM: z.string().min(1).default('groups'),
  STORAGE_AUTH_CLOCK_TOLERANCE_SECONDS: nonNegativeInt.max(300).default(30),
  STORAGE_AUTH_JWKS_COOLDOWN_SECONDS: nonNegativeInt.default(30),
  STORAGE_AUTH_JWKS_CACHE_SECONDS: positiveInt.default(600),
  STORAGE_AUTH_MAX_TOKEN_LIFETIME_SECONDS: positiveInt.default(86_400),
  // Unset: admin in production (the metrics name the owners storing most), open elsewhere.
  STORAGE_METRICS_ACCESS: z.enum(['open', 'admin']).optional(),
  STORAGE_URL_SIGNING_KEYS: commaList.pipe(z.array(z.string().min(MIN_SECRET_BYTES, `each key must be at least ${MIN_SECRET_BYTES} characters`))),
  // The console's links to a run's page (/console): unset, it shows a run's workflow id without a link.
  STORAGE_TEMPORAL_UI_URL: optionalUrl,
  STORAGE_CORS_ORIGINS: commaList.pipe(
    z.array(
      z
        .string()
        .url()
        .transform((origin) => new URL(origin).origin),
    ),
  ),
  STORAGE_RATE_LIMITS: z.enum(['on', 'off']).default('on'),
  STORAGE_REQUIRE_IF_MATCH: z.enum(['on', 'off']).default('off'),
  STORAGE_RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
  STORAGE_RATE_LIMIT_READS: positiveInt.default(1200),
  STORAGE_RATE_LIMIT_WRITES: positiveInt.default(300),
  STORAGE_RATE_LIMIT_CONTENT_BYTES: positiveInt.default(2048 * MiB),
  STORAGE_RATE_LIMIT_PRIVILEGED_READS: positiveInt.default(12_000),
  STORAGE_RATE_LIMIT_PRIVILEGED_WRITES: positiveInt.default(3_000),
  STORAGE_RATE_LIMIT_PRIVILEGED_CONTENT_BYTES: positiveInt.default(20_480 * MiB),
  STORAGE_RATE_LIMIT_UPLOAD_STREAMS: positiveInt.default(8),
  STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS: positiveInt.default(64),
  STORAGE_REDIS_PREFIX: z.string().min(1).default('storage'),
  STORAGE_CACHE: z.enum(['on', 'off']).optional(),
  STORAGE_CACHE_MAX_OBJECT_BYTES: nonNegativeInt.default(MiB),
  STORAGE_CACHE_TTL_SECONDS: positiveInt.default(300),
  STORAGE_S3_SSE: z
    .enum(['AES256', 'aws:kms'])
    .optional()
    .or(z.literal('').transform(() => undefined)),
  STORAGE_S3_SSE_KMS_KEY_ID: z.string().min(1).optional(),
  STORAGE_S3_PUBLIC_ENDPOINT_URL: optionalUrl,
  STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES: optionalLimit,
  // A client follows a 307 at once; the store honours the URL until it expires, revoked access or not.
  STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS: z.coerce.number().int().min(30).max(3600).default(60),
});

export type ConfigEnv = z.infer<typeof configSchema>;

export interface Config {
  serviceName: string;
  environment: ConfigEnv['STORAGE_ENVIRONMENT'];
  logLevel: ConfigEnv['STORAGE_LOG_LEVEL'];
  /**
   * On SIGTERM the API answers /health/ready 503 for `drainMs` before it stops accepting (so a load
   * balancer polling it sends nothing more), then lets in-flight requests finish for up to `graceMs`.
   * A request must arrive whole, headers and body, within `requestTimeoutMs` (408 otherwise).
   */
  http: { host: string; port: number; drainMs: number; graceMs: number; requestTimeoutMs: number };
  /**
   * `url` is the API's and the worker's, `migrationUrl` setup's (the role that owns the tables). With
   * `refusePrivilegedRole` (production) a connection of `url` whose role could alter the audit log is refused.
   */
  database: { url: string; poolMax: number; migrationUrl: string; refusePrivilegedRole: boolean };
  s3: {
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    region: string;
    bucket: string;
    backupBucket: string;
    forcePathStyle: boolean;
    /** Server-side encryption asked for on every write; none when unset. */
    sse?: ServerSideEncryption;
    /** The store as clients reach it, signed into download redirects; `endpoint` when unset. */
    publicEndpoint?: string;
  };
  temporal: { address: string; namespace: string; taskQueue: string };
  redisUrl?: string;
  messageHubUrl?: string;
  /** `maxPending`: simple uploads one API process takes at once (lib/limits/pendingUploads.ts). */
  /** `stallSeconds`: an open session that shows no progress for this long is ended (workflows/uploads/workflow.ts). */
  /** `resumableStallSeconds`: the same bound for chunked and tus sessions, whose clients may pause between parts. */
  uploads: { maxSizeBytes: number; expiryHours: number; waitSeconds: number; maxPending: number; stallSeconds: number; resumableStallSeconds: number };
  versions: { max: number; retentionDays: number };
  /** Per-owner limits (lib/quotas/); null is unlimited. An admin may override them per owner. */
  quotas: { bytesPerOwner: number | null; assetsPerOwner: number | null };
  /** `retry`: how a scheduled backup that failed is taken again (workflows/backups/backup.ts). */
  backups: {
    enabled: boolean;
    retentionDays: number;
    cron: string;
    retry: { attempts: number; delaySeconds: number; windowHours: number };
    /** STORAGE_BACKUP_SCHEDULE_ID; unset (undefined): derived from the task queue. */
    scheduleId?: string;
  };
  /**
   * Restore drills (workflows/drills/): the schedule (kept only while backups are enabled), the sample (at most
   * `sampleAssets` assets and `sampleBytes` bytes, whichever comes first), and `periodHours`, the period the cron
   * should match: /health is degraded once no backup was proven restorable within twice it.
   */
  drills: { cron: string; sampleAssets: number; sampleBytes: number; periodHours: number; scheduleId?: string };
  /** `scheduleId`: STORAGE_LIFECYCLE_SCHEDULE_ID; unset (undefined): derived from the task queue. */
  lifecycle: { cron: string; scheduleId?: string };
  /**
   * The scrub (lib/scrub/): its schedule, the age an unowned object (`graceHours`) or multipart upload
   * (`multipartAgeHours`, the upload expiry unless set) must reach before it is removed, the share of
   * objects re-hashed per run, and the bytes per second it may hash.
   */
  scrub: { cron: string; scheduleId?: string; graceHours: number; samplePercent: number; maxBytesPerSecond: number; multipartAgeHours: number };
  /** `enabled: false` only for measuring what the audit rows cost (refused in staging and production). */
  audit: { enabled: boolean; retentionDays: number };
  /** Ages past which the lifecycle sweep deletes ended rows (lib/lifecycle/tableRetention.ts). */
  tableRetention: {
    uploadSessionDays: number;
    outboxDays: number;
    lifecycleRunDays: number;
    backupJobDays: number;
    restoreDrillDays: number;
    scrubDays: number;
  };
  healthTimeoutMs: number;
  /** `parkAfterAttempts`: an event the hub refuses (4xx) at this attempt is parked (activities/events.ts). */
  events: { retryMaxSeconds: number; parkAfterAttempts: number };
  /** service.asset.requested's sources (lib/uploads/sourceFetch.ts). */
  ingest: { allowedHosts: string[]; timeoutSeconds: number };
  auth: AuthConfig;
  metricsAccess: 'open' | 'admin';
  /** A change of an existing resource without If-Match is refused (428): STORAGE_REQUIRE_IF_MATCH. */
  requireIfMatch: boolean;
  /** HMAC keys for signed content URLs: the first signs, every one verifies (so keys can rotate). */
  urlSigningKeys: string[];
  cors: { origins: string[] };
  /** The web console (api/routes/console.ts): where a run's page is in the Temporal UI. */
  console: { temporalUiUrl: string | null };
  rateLimits: RateLimitConfig;
  /** Downloads answered with a 307 to a presigned GET of the store (api/contentRedirect.ts). */
  downloadRedirects: { minBytes: number | null; ttlSeconds: number };
  cache: CacheConfig;
}

/** The Redis cache of asset metadata and small contents (lib/cache/). */
export interface CacheConfig {
  /** Whether this process reads through the cache; with Redis its writes invalidate either way. */
  enabled: boolean;
  maxObjectBytes: number;
  /** A backstop only: entries are invalidated by every write. */
  ttlSeconds: number;
  keyPrefix: string;
}

export interface ServerSideEncryption {
  mode: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
}

/** Each budget's points per window: requests for reads and writes, bytes for content. */
export interface RateLimitBudgets {
  reads: number;
  writes: number;
  content: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  windowSeconds: number;
  /** Users, and clients without a token (by address). */
  standard: RateLimitBudgets;
  /** Admins and services. */
  privileged: RateLimitBudgets;
  /** Prefix of the Redis keys, so that deployments (or tests) sharing a Redis keep their own budgets. */
  keyPrefix: string;
  uploadStreams: UploadStreamLimits;
}

/** Request bodies streaming at once in one API process (lib/limits/uploadStreams.ts): per caller, and in all. */
export interface UploadStreamLimits {
  perCaller: number;
  total: number;
}

/** How callers prove who they are (docs/security.md, "Security"). */
export interface AuthConfig {
  mode: 'jwt' | 'off';
  /** Exactly one key source in `jwt` mode. */
  jwksUrl?: string;
  publicKey?: string;
  secret?: string;
  algorithms: string[];
  issuer: string;
  audience: string;
  rolesClaim: string;
  groupsClaim: string;
  clockToleranceSeconds: number;
  jwksCooldownSeconds: number;
  /** How long a fetched JWKS is trusted: a key the Auth Service removed is refused at the latest then. */
  jwksCacheSeconds: number;
  /** The longest `exp - iat` (`exp - now` without `iat`) accepted: a stolen token is good for no longer. */
  maxTokenLifetimeSeconds: number;
}

// Outside staging and production the issuer and audience default to what `npm run token` mints.
export const DEV_AUTH_ISSUER = 'storage-dev';
export const DEV_AUTH_AUDIENCE = 'storage-service';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the STORAGE_* variables; throws ConfigError with one line per bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(env);
  const auth = authConfigOf(e);
  const problems = [...auth.problems, ...protectionProblemsOf(e)];
  if (e.STORAGE_CACHE === 'on' && !e.STORAGE_REDIS_URL) problems.push('STORAGE_CACHE: on needs STORAGE_REDIS_URL');
  // The scrub takes every object of the asset bucket that no version names for an orphan: backups there would go.
  if (e.STORAGE_BACKUP_BUCKET_NAME === e.STORAGE_S3_BUCKET_NAME)
    problems.push(
      'STORAGE_BACKUP_BUCKET_NAME: must differ from STORAGE_S3_BUCKET_NAME (a backup beside the assets is no backup, and the scrub would remove it)',
    );
  if (problems.length) throw new ConfigError(problems);
  return { ...infrastructureOf(e), ...featuresOf(e), auth: auth.config, ...accessOf(e) };
}

function parseEnv(env: NodeJS.ProcessEnv): ConfigEnv {
  const picked = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('STORAGE_')));
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message} (got ${JSON.stringify(picked[String(issue.path[0])])})`);
    throw new ConfigError(problems);
  }
  return parsed.data;
}

/** The service itself and what it runs on. */
function infrastructureOf(e: ConfigEnv) {
  return {
    serviceName: e.STORAGE_SERVICE_NAME,
    environment: e.STORAGE_ENVIRONMENT,
    logLevel: e.STORAGE_LOG_LEVEL,
    http: {
      host: e.STORAGE_HOST,
      port: e.STORAGE_PORT,
      drainMs: e.STORAGE_SHUTDOWN_DRAIN_MS,
      graceMs: e.STORAGE_SHUTDOWN_GRACE_MS,
      requestTimeoutMs: e.STORAGE_REQUEST_TIMEOUT_MS,
    },
    database: {
      url: e.STORAGE_DATABASE_URL,
      poolMax: e.STORAGE_DATABASE_POOL_MAX,
      migrationUrl: e.STORAGE_DATABASE_MIGRATION_URL ?? e.STORAGE_DATABASE_URL,
      refusePrivilegedRole: e.STORAGE_ENVIRONMENT === 'production' && !e.STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE,
    },
    s3: {
      endpoint: e.STORAGE_S3_ENDPOINT_URL,
      accessKeyId: e.STORAGE_S3_ACCESS_KEY_ID,
      secretAccessKey: e.STORAGE_S3_SECRET_ACCESS_KEY,
      region: e.STORAGE_S3_REGION,
      bucket: e.STORAGE_S3_BUCKET_NAME,
      backupBucket: e.STORAGE_BACKUP_BUCKET_NAME ?? `${e.STORAGE_S3_BUCKET_NAME}-backups`,
      forcePathStyle: e.STORAGE_S3_FORCE_PATH_STYLE,
      sse: e.STORAGE_S3_SSE ? { mode: e.STORAGE_S3_SSE, kmsKeyId: e.STORAGE_S3_SSE_KMS_KEY_ID } : undefined,
      publicEndpoint: e.STORAGE_S3_PUBLIC_ENDPOINT_URL,
    },
    temporal: {
      address: e.STORAGE_TEMPORAL_ADDRESS,
      namespace: e.STORAGE_TEMPORAL_NAMESPACE,
      taskQueue: e.STORAGE_TEMPORAL_TASK_QUEUE,
    },
    redisUrl: e.STORAGE_REDIS_URL,
    messageHubUrl: e.STORAGE_MESSAGE_HUB_URL,
  } satisfies Partial<Config>;
}

/** The features' settings. */
function featuresOf(e: ConfigEnv) {
  return {
    uploads: {
      maxSizeBytes: e.STORAGE_MAX_UPLOAD_SIZE,
      expiryHours: e.STORAGE_UPLOAD_EXPIRY_HOURS,
      waitSeconds: e.STORAGE_UPLOAD_WAIT_SECONDS,
      maxPending: e.STORAGE_MAX_PENDING_UPLOADS,
      stallSeconds: e.STORAGE_UPLOAD_STALL_SECONDS,
      resumableStallSeconds: e.STORAGE_RESUMABLE_STALL_SECONDS,
    },
    versions: { max: e.STORAGE_MAX_VERSIONS, retentionDays: e.STORAGE_VERSION_RETENTION_DAYS },
    quotas: { bytesPerOwner: e.STORAGE_QUOTA_BYTES_PER_OWNER, assetsPerOwner: e.STORAGE_QUOTA_ASSETS_PER_OWNER },
    backups: {
      enabled: e.STORAGE_BACKUP_ENABLED,
      retentionDays: e.STORAGE_BACKUP_RETENTION_DAYS,
      cron: e.STORAGE_BACKUP_CRON,
      retry: { attempts: e.STORAGE_BACKUP_ATTEMPTS, delaySeconds: e.STORAGE_BACKUP_RETRY_DELAY_SECONDS, windowHours: e.STORAGE_BACKUP_RETRY_WINDOW_HOURS },
      scheduleId: e.STORAGE_BACKUP_SCHEDULE_ID || undefined,
    },
    drills: {
      cron: e.STORAGE_RESTORE_DRILL_CRON,
      sampleAssets: e.STORAGE_RESTORE_DRILL_SAMPLE_ASSETS,
      sampleBytes: e.STORAGE_RESTORE_DRILL_SAMPLE_BYTES,
      periodHours: e.STORAGE_RESTORE_DRILL_PERIOD_HOURS,
      scheduleId: e.STORAGE_RESTORE_DRILL_SCHEDULE_ID || undefined,
    },
    lifecycle: { cron: e.STORAGE_LIFECYCLE_CRON, scheduleId: e.STORAGE_LIFECYCLE_SCHEDULE_ID || undefined },
    scrub: {
      cron: e.STORAGE_SCRUB_CRON,
      scheduleId: e.STORAGE_SCRUB_SCHEDULE_ID || undefined,
      graceHours: e.STORAGE_SCRUB_GRACE_HOURS,
      samplePercent: e.STORAGE_SCRUB_SAMPLE_PERCENT,
      maxBytesPerSecond: e.STORAGE_SCRUB_MAX_BYTES_PER_SECOND,
      multipartAgeHours: e.STORAGE_SCRUB_MULTIPART_AGE_HOURS ?? e.STORAGE_UPLOAD_EXPIRY_HOURS,
    },
    audit: { enabled: e.STORAGE_AUDIT_LOG === 'on', retentionDays: e.STORAGE_AUDIT_RETENTION_DAYS },
    tableRetention: {
      uploadSessionDays: e.STORAGE_UPLOAD_SESSION_RETENTION_DAYS,
      outboxDays: e.STORAGE_OUTBOX_RETENTION_DAYS,
      lifecycleRunDays: e.STORAGE_LIFECYCLE_RUN_RETENTION_DAYS,
      backupJobDays: e.STORAGE_BACKUP_JOB_RETENTION_DAYS,
      restoreDrillDays: e.STORAGE_RESTORE_DRILL_RETENTION_DAYS,
      scrubDays: e.STORAGE_SCRUB_RETENTION_DAYS,
    },
    healthTimeoutMs: e.STORAGE_HEALTH_TIMEOUT_MS,
    events: { retryMaxSeconds: e.STORAGE_OUTBOX_RETRY_MAX_SECONDS, parkAfterAttempts: e.STORAGE_OUTBOX_PARK_AFTER_ATTEMPTS },
    ingest: { allowedHosts: e.STORAGE_INGEST_ALLOWED_HOSTS, timeoutSeconds: e.STORAGE_INGEST_TIMEOUT_SECONDS },
  } satisfies Partial<Config>;
}

/** Who may do what, and how much. */
function accessOf(e: ConfigEnv) {
  return {
    metricsAccess: e.STORAGE_METRICS_ACCESS ?? (e.STORAGE_ENVIRONMENT === 'production' ? 'admin' : 'open'),
    urlSigningKeys: e.STORAGE_URL_SIGNING_KEYS,
    cors: { origins: e.STORAGE_CORS_ORIGINS },
    console: { temporalUiUrl: e.STORAGE_TEMPORAL_UI_URL?.replace(/\/+$/, '') ?? null },
    requireIfMatch: e.STORAGE_REQUIRE_IF_MATCH === 'on',
    rateLimits: {
      enabled: e.STORAGE_RATE_LIMITS === 'on',
      windowSeconds: e.STORAGE_RATE_LIMIT_WINDOW_SECONDS,
      standard: { reads: e.STORAGE_RATE_LIMIT_READS, writes: e.STORAGE_RATE_LIMIT_WRITES, content: e.STORAGE_RATE_LIMIT_CONTENT_BYTES },
      privileged: {
        reads: e.STORAGE_RATE_LIMIT_PRIVILEGED_READS,
        writes: e.STORAGE_RATE_LIMIT_PRIVILEGED_WRITES,
        content: e.STORAGE_RATE_LIMIT_PRIVILEGED_CONTENT_BYTES,
      },
      keyPrefix: e.STORAGE_REDIS_PREFIX,
      uploadStreams: { perCaller: e.STORAGE_RATE_LIMIT_UPLOAD_STREAMS, total: e.STORAGE_RATE_LIMIT_API_UPLOAD_STREAMS },
    },
    downloadRedirects: { minBytes: e.STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES, ttlSeconds: e.STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS },
    cache: {
      enabled: (e.STORAGE_CACHE ?? (e.STORAGE_REDIS_URL ? 'on' : 'off')) === 'on',
      maxObjectBytes: e.STORAGE_CACHE_MAX_OBJECT_BYTES,
      ttlSeconds: e.STORAGE_CACHE_TTL_SECONDS,
      keyPrefix: e.STORAGE_REDIS_PREFIX,
    },
  } satisfies Partial<Config>;
}

/**
 * Rate limits, encryption at rest and real S3 credentials: production runs with all three; a KMS key
 * goes with SSE-KMS alone.
 */
function protectionProblemsOf(e: ConfigEnv): string[] {
  const problems: string[] = [];
  if (e.STORAGE_S3_SSE === 'aws:kms' && !e.STORAGE_S3_SSE_KMS_KEY_ID) problems.push('STORAGE_S3_SSE_KMS_KEY_ID: required with STORAGE_S3_SSE=aws:kms');
  if (e.STORAGE_S3_SSE_KMS_KEY_ID && e.STORAGE_S3_SSE !== 'aws:kms') problems.push('STORAGE_S3_SSE_KMS_KEY_ID: only with STORAGE_S3_SSE=aws:kms');
  // The audit log is accountability for every deployed environment, staging included.
  if (e.STORAGE_AUDIT_LOG === 'off' && (e.STORAGE_ENVIRONMENT === 'staging' || e.STORAGE_ENVIRONMENT === 'production')) {
    problems.push(`STORAGE_AUDIT_LOG: off is refused in ${e.STORAGE_ENVIRONMENT}`);
  }
  if (e.STORAGE_ENVIRONMENT === 'production') {
    if (e.STORAGE_RATE_LIMITS === 'off') problems.push('STORAGE_RATE_LIMITS: off is refused in production');
    if (!e.STORAGE_S3_SSE) problems.push('STORAGE_S3_SSE: required in production (AES256 or aws:kms)');
    if (e.STORAGE_S3_ACCESS_KEY_ID === DEV_S3_CREDENTIALS.accessKeyId)
      problems.push('STORAGE_S3_ACCESS_KEY_ID: the development default, refused in production');
    if (e.STORAGE_S3_SECRET_ACCESS_KEY === DEV_S3_CREDENTIALS.secretAccessKey)
      problems.push('STORAGE_S3_SECRET_ACCESS_KEY: the development default, refused in production');
  }
  return problems;
}

/**
 * The rules that span variables. Staging and production refuse what only development may use: no
 * authentication, an HS256 secret, a default issuer or audience, or no URL signing key.
 */
function authConfigOf(e: ConfigEnv): { config: AuthConfig; problems: string[] } {
  const problems: string[] = [];
  const deployed = e.STORAGE_ENVIRONMENT === 'staging' || e.STORAGE_ENVIRONMENT === 'production';
  const sources = (['STORAGE_AUTH_JWKS_URL', 'STORAGE_AUTH_PUBLIC_KEY', 'STORAGE_AUTH_JWT_SECRET'] as const).filter((k) => e[k]);
  if (e.STORAGE_AUTH_MODE === 'off' && deployed) problems.push(`STORAGE_AUTH_MODE: off is refused in ${e.STORAGE_ENVIRONMENT}`);
  if (sources.length > 1) problems.push(`STORAGE_AUTH_*: set one key source, not ${sources.join(' and ')}`);
  const symmetric = e.STORAGE_AUTH_JWT_SECRET !== undefined && sources.length === 1;
  const algorithms = e.STORAGE_AUTH_ALGORITHMS.length ? e.STORAGE_AUTH_ALGORITHMS : symmetric ? ['HS256'] : ['RS256', 'PS256', 'ES256', 'EdDSA'];
  // An asymmetric key accepted for HMAC would let anyone who knows the public key sign tokens.
  const misfit = algorithms.filter((a) => SYMMETRIC_ALGORITHMS.includes(a) !== symmetric);
  if (misfit.length)
    problems.push(`STORAGE_AUTH_ALGORITHMS: ${misfit.join(', ')} does not fit the key source (${symmetric ? 'an HMAC secret' : 'a public key'})`);
  if (deployed && e.STORAGE_AUTH_MODE === 'jwt') {
    if (sources.length === 0) problems.push('STORAGE_AUTH_JWKS_URL or STORAGE_AUTH_PUBLIC_KEY: required in ' + e.STORAGE_ENVIRONMENT);
    if (e.STORAGE_AUTH_JWT_SECRET) problems.push(`STORAGE_AUTH_JWT_SECRET: a development secret, refused in ${e.STORAGE_ENVIRONMENT}`);
    if (!e.STORAGE_AUTH_ISSUER) problems.push(`STORAGE_AUTH_ISSUER: required in ${e.STORAGE_ENVIRONMENT}`);
    if (!e.STORAGE_AUTH_AUDIENCE) problems.push(`STORAGE_AUTH_AUDIENCE: required in ${e.STORAGE_ENVIRONMENT}`);
  }
  if (deployed && e.STORAGE_URL_SIGNING_KEYS.length === 0) problems.push(`STORAGE_URL_SIGNING_KEYS: required in ${e.STORAGE_ENVIRONMENT}`);
  return {
    problems,
    config: {
      mode: e.STORAGE_AUTH_MODE,
      jwksUrl: e.STORAGE_AUTH_JWKS_URL,
      publicKey: e.STORAGE_AUTH_PUBLIC_KEY,
      secret: e.STORAGE_AUTH_JWT_SECRET,
      algorithms,
      issuer: e.STORAGE_AUTH_ISSUER ?? DEV_AUTH_ISSUER,
      audience: e.STORAGE_AUTH_AUDIENCE ?? DEV_AUTH_AUDIENCE,
      rolesClaim: e.STORAGE_AUTH_ROLES_CLAIM,
      groupsClaim: e.STORAGE_AUTH_GROUPS_CLAIM,
      clockToleranceSeconds: e.STORAGE_AUTH_CLOCK_TOLERANCE_SECONDS,
      jwksCooldownSeconds: e.STORAGE_AUTH_JWKS_COOLDOWN_SECONDS,
      jwksCacheSeconds: e.STORAGE_AUTH_JWKS_CACHE_SECONDS,
      maxTokenLifetimeSeconds: e.STORAGE_AUTH_MAX_TOKEN_LIFETIME_SECONDS,
    },
  };
}

/** A deployed service keeps its audit log: `off` exists for the bench to measure what it costs. */
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
