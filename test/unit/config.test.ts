import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../lib/platform/config';

const ROOT = path.resolve(__dirname, '../..');

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.http.port).toBe(8005);
    expect(config.database.url).toBe('postgresql://postgres@127.0.0.1:5432/storage_db');
    expect(config.s3.bucket).toBe('dnd-storage');
    expect(config.s3.backupBucket).toBe('dnd-storage-backups');
    expect(config.uploads.maxSizeBytes).toBe(104857600);
    expect(config.versions).toEqual({ max: 10, retentionDays: 90 });
    expect(config.backups).toMatchObject({ enabled: true, retentionDays: 30, cron: '0 2 * * *' });
    expect(config.lifecycle.cron).toBe('0 3 * * *');
    expect(config.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'storage' });
    expect(config.uploads.expiryHours).toBe(24);
  });

  it('has quotas unlimited unless set, and refuses a limit that is not a whole number of at least 0', () => {
    expect(loadConfig({}).quotas).toEqual({ bytesPerOwner: null, assetsPerOwner: null });
    expect(loadConfig({ STORAGE_QUOTA_BYTES_PER_OWNER: '', STORAGE_QUOTA_ASSETS_PER_OWNER: '0' }).quotas).toEqual({ bytesPerOwner: null, assetsPerOwner: 0 });
    expect(loadConfig({ STORAGE_QUOTA_BYTES_PER_OWNER: '1073741824' }).quotas.bytesPerOwner).toBe(1073741824);
    for (const bad of ['-1', '1.5', '1GB']) expect(() => loadConfig({ STORAGE_QUOTA_BYTES_PER_OWNER: bad })).toThrow(/STORAGE_QUOTA_BYTES_PER_OWNER/);
  });

  it('redirects no download unless told, for 60 s (a presigned URL outlives a revocation), and bounds the expiry to 30 s..1 h', () => {
    expect(loadConfig({}).downloadRedirects).toEqual({ minBytes: null, ttlSeconds: 60 });
    expect(loadConfig({ STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES: '0' }).downloadRedirects.minBytes).toBe(0);
    expect(loadConfig({ STORAGE_S3_PUBLIC_ENDPOINT_URL: 'https://s3.example' }).s3.publicEndpoint).toBe('https://s3.example');
    for (const bad of ['29', '3601', '1.5'])
      expect(() => loadConfig({ STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS: bad })).toThrow(/STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS/);
    expect(() => loadConfig({ STORAGE_S3_PUBLIC_ENDPOINT_URL: 's3 internal' })).toThrow(/STORAGE_S3_PUBLIC_ENDPOINT_URL/);
  });

  it('refuses a backup bucket that is the asset bucket (the scrub would take the backups for orphans)', () => {
    expect(() => loadConfig({ STORAGE_BACKUP_BUCKET_NAME: 'dnd-storage' })).toThrow(/STORAGE_BACKUP_BUCKET_NAME: must differ/);
    expect(() => loadConfig({ STORAGE_S3_BUCKET_NAME: 'maps', STORAGE_BACKUP_BUCKET_NAME: 'maps' })).toThrow(/must differ/);
    expect(loadConfig({ STORAGE_S3_BUCKET_NAME: 'maps', STORAGE_BACKUP_BUCKET_NAME: 'maps-kept' }).s3.backupBucket).toBe('maps-kept');
  });

  it('accepts the postgresql+asyncpg:// form existing deployments use', () => {
    const config = loadConfig({ STORAGE_DATABASE_URL: 'postgresql+asyncpg://app:pw@db.internal:5432/storage' });
    expect(config.database.url).toBe('postgresql://app:pw@db.internal:5432/storage');
  });

  it('names every bad variable, one line each', () => {
    let error: unknown;
    try {
      loadConfig({ STORAGE_PORT: 'eighty', STORAGE_MAX_VERSIONS: '0', STORAGE_BACKUP_ENABLED: 'maybe', STORAGE_DATABASE_URL: 'mysql://x' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    for (const name of ['STORAGE_PORT', 'STORAGE_MAX_VERSIONS', 'STORAGE_BACKUP_ENABLED', 'STORAGE_DATABASE_URL']) {
      expect(problems.filter((line) => line.startsWith(`${name}:`))).toHaveLength(1);
    }
  });

  it('stops a process at start with one line per bad variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, STORAGE_PORT: '70000', STORAGE_UPLOAD_EXPIRY_HOURS: '-3' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(78);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^STORAGE_PORT: /), expect.stringMatching(/^STORAGE_UPLOAD_EXPIRY_HOURS: /)]);
  });
});

/** A production deployment with everything production asks for. */
const PRODUCTION = {
  STORAGE_ENVIRONMENT: 'production',
  STORAGE_AUTH_JWKS_URL: 'https://auth.example/.well-known/jwks.json',
  STORAGE_AUTH_ISSUER: 'https://auth.example',
  STORAGE_AUTH_AUDIENCE: 'storage',
  STORAGE_URL_SIGNING_KEYS: 'k'.repeat(32),
  STORAGE_S3_SSE: 'AES256',
  STORAGE_S3_ACCESS_KEY_ID: 'storage-prod',
  STORAGE_S3_SECRET_ACCESS_KEY: 'p'.repeat(40),
};

describe('authentication settings', () => {
  const deployed = PRODUCTION;
  const problemsOf = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('jwt is the default mode; a secret alone means HS256, a public key or JWKS the asymmetric algorithms', () => {
    expect(loadConfig({}).auth).toMatchObject({ mode: 'jwt', issuer: 'storage-dev', audience: 'storage-service', rolesClaim: 'roles', groupsClaim: 'groups' });
    expect(loadConfig({ STORAGE_AUTH_JWT_SECRET: 's'.repeat(32) }).auth.algorithms).toEqual(['HS256']);
    expect(loadConfig({ STORAGE_AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks' }).auth.algorithms).toEqual(['RS256', 'PS256', 'ES256', 'EdDSA']);
  });

  it('production with issuer, audience, a JWKS and a signing key starts', () => {
    expect(problemsOf(deployed)).toEqual([]);
  });

  it.each([
    ['no key source', { STORAGE_AUTH_JWKS_URL: '' }, /^STORAGE_AUTH_JWKS_URL or STORAGE_AUTH_PUBLIC_KEY: required/],
    ['the development secret', { STORAGE_AUTH_JWKS_URL: '', STORAGE_AUTH_JWT_SECRET: 's'.repeat(32) }, /^STORAGE_AUTH_JWT_SECRET: a development secret/],
    ['no issuer', { STORAGE_AUTH_ISSUER: '' }, /^STORAGE_AUTH_ISSUER/],
    ['no audience', { STORAGE_AUTH_AUDIENCE: '' }, /^STORAGE_AUTH_AUDIENCE/],
    ['no URL signing key', { STORAGE_URL_SIGNING_KEYS: '' }, /^STORAGE_URL_SIGNING_KEYS: required/],
    ['auth off', { STORAGE_AUTH_MODE: 'off' }, /^STORAGE_AUTH_MODE: off is refused in production/],
    ['rate limits off', { STORAGE_RATE_LIMITS: 'off' }, /^STORAGE_RATE_LIMITS: off is refused in production/],
    ['no encryption at rest', { STORAGE_S3_SSE: '' }, /^STORAGE_S3_SSE: required in production/],
    ['the development S3 access key', { STORAGE_S3_ACCESS_KEY_ID: '' }, /^STORAGE_S3_ACCESS_KEY_ID: the development default/],
    ['the development S3 secret', { STORAGE_S3_SECRET_ACCESS_KEY: '' }, /^STORAGE_S3_SECRET_ACCESS_KEY: the development default/],
    ['the audit log off', { STORAGE_AUDIT_LOG: 'off' }, /^STORAGE_AUDIT_LOG: off is refused in production/],
  ])('production refuses %s', (_what, change, problem) => {
    const env = Object.fromEntries(Object.entries({ ...deployed, ...change }).filter(([, v]) => v !== ''));
    expect(problemsOf(env)).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
  });

  it('refuses off in staging too, and takes it in development', () => {
    expect(problemsOf({ ...deployed, STORAGE_ENVIRONMENT: 'staging', STORAGE_AUTH_MODE: 'off' })).toEqual([expect.stringMatching(/off is refused in staging/)]);
    expect(loadConfig({ STORAGE_AUTH_MODE: 'off' }).auth.mode).toBe('off');
  });

  it.each([
    ['a secret under 32 bytes', { STORAGE_AUTH_JWT_SECRET: 'short' }, /^STORAGE_AUTH_JWT_SECRET: must be at least 32 bytes/],
    ['two key sources', { STORAGE_AUTH_JWT_SECRET: 's'.repeat(32), STORAGE_AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks' }, /set one key source/],
    [
      'HS256 with a public key source',
      { STORAGE_AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks', STORAGE_AUTH_ALGORITHMS: 'HS256' },
      /HS256 does not fit the key source/,
    ],
    ['RS256 with a secret', { STORAGE_AUTH_JWT_SECRET: 's'.repeat(32), STORAGE_AUTH_ALGORITHMS: 'RS256' }, /RS256 does not fit the key source/],
    ['an unknown algorithm', { STORAGE_AUTH_ALGORITHMS: 'none' }, /^STORAGE_AUTH_ALGORITHMS/],
    ['a short URL signing key', { STORAGE_URL_SIGNING_KEYS: 'short' }, /^STORAGE_URL_SIGNING_KEYS/],
  ])('refuses %s anywhere', (_what, env, problem) => {
    expect(problemsOf(env)).toEqual([expect.stringMatching(problem)]);
  });
});

describe('/metrics access', () => {
  it('is open by default outside production, admin-only by default in production, and as set in either', () => {
    expect(loadConfig({}).metricsAccess).toBe('open');
    expect(loadConfig({ ...PRODUCTION, STORAGE_ENVIRONMENT: 'staging' }).metricsAccess).toBe('open');
    expect(loadConfig(PRODUCTION).metricsAccess).toBe('admin');
    expect(loadConfig({ ...PRODUCTION, STORAGE_METRICS_ACCESS: 'open' }).metricsAccess).toBe('open');
    expect(loadConfig({ STORAGE_METRICS_ACCESS: 'admin' }).metricsAccess).toBe('admin');
    expect(() => loadConfig({ STORAGE_METRICS_ACCESS: 'everyone' })).toThrow(/^invalid configuration:\nSTORAGE_METRICS_ACCESS: /);
  });
});

describe('rate limits and encryption at rest', () => {
  it('limits by default, and takes off outside production', () => {
    expect(loadConfig({}).rateLimits).toMatchObject({ enabled: true, windowSeconds: 60, standard: { reads: 1200, writes: 300 } });
    expect(loadConfig({ STORAGE_RATE_LIMITS: 'off' }).rateLimits.enabled).toBe(false);
  });

  it('gives admins and services larger budgets than anyone else by default', () => {
    const { standard, privileged } = loadConfig({}).rateLimits;
    for (const budget of ['reads', 'writes', 'content'] as const) expect(privileged[budget]).toBeGreaterThan(standard[budget]);
  });

  it('encrypts with SSE-S3 or SSE-KMS, whose key it must name', () => {
    expect(loadConfig({}).s3.sse).toBeUndefined();
    expect(loadConfig({ STORAGE_S3_SSE: 'AES256' }).s3.sse).toEqual({ mode: 'AES256' });
    expect(loadConfig({ STORAGE_S3_SSE: 'aws:kms', STORAGE_S3_SSE_KMS_KEY_ID: 'arn:aws:kms:k' }).s3.sse).toEqual({
      mode: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:k',
    });
    expect(() => loadConfig({ STORAGE_S3_SSE: 'aws:kms' })).toThrow(/STORAGE_S3_SSE_KMS_KEY_ID: required/);
    expect(() => loadConfig({ STORAGE_S3_SSE_KMS_KEY_ID: 'k' })).toThrow(/only with STORAGE_S3_SSE=aws:kms/);
    expect(() => loadConfig({ STORAGE_S3_SSE: 'DES' })).toThrow(/^invalid configuration:\nSTORAGE_S3_SSE: /);
  });
});

// Every secret the service reads comes from its environment in production: a default that looks like
// a secret is one a development machine may use and production refuses.
describe('no secret committed as a default', () => {
  const { configSchema } = require('../../lib/platform/config') as typeof import('../../lib/platform/config');
  const secretLooking = Object.keys(configSchema.shape).filter((name) => /_SECRET|_KEY/.test(name));
  const defaultOf = (name: string) => (configSchema.shape as Record<string, { parse(v: unknown): unknown }>)[name].parse(undefined);
  const production = PRODUCTION;

  it('finds the variables that hold keys and secrets', () => {
    expect(secretLooking).toEqual(
      expect.arrayContaining(['STORAGE_S3_ACCESS_KEY_ID', 'STORAGE_S3_SECRET_ACCESS_KEY', 'STORAGE_AUTH_JWT_SECRET', 'STORAGE_URL_SIGNING_KEYS']),
    );
  });

  // A new default for one of them must be a development one, refused in production, and listed here.
  it('has defaults only for the development S3 credentials', () => {
    const withDefault = secretLooking.filter((name) => ![undefined, ''].includes(String(defaultOf(name) ?? '') || undefined));
    expect(withDefault.sort()).toEqual(['STORAGE_S3_ACCESS_KEY_ID', 'STORAGE_S3_SECRET_ACCESS_KEY']);
  });

  it.each(['STORAGE_S3_ACCESS_KEY_ID', 'STORAGE_S3_SECRET_ACCESS_KEY'])('%s defaults to a development value that production refuses', (name) => {
    const given = String(defaultOf(name));
    expect(given).toMatch(/dev/);
    expect(() => loadConfig({ ...production, [name]: given })).toThrow(new RegExp(`${name}: the development default, refused in production`));
    expect(() => loadConfig({ ...production, [name]: undefined })).toThrow(new RegExp(`${name}: the development default, refused in production`));
    expect(() => loadConfig({ ...production, STORAGE_ENVIRONMENT: 'development', [name]: undefined })).not.toThrow();
  });
});

describe('database roles', () => {
  it('setup migrates as the service logs in unless given the owner’s URL; production refuses a privileged role unless allowed', () => {
    expect(loadConfig({}).database).toMatchObject({ migrationUrl: 'postgresql://postgres@127.0.0.1:5432/storage_db', refusePrivilegedRole: false });
    expect(loadConfig({ STORAGE_DATABASE_MIGRATION_URL: 'postgresql+asyncpg://owner@db/storage' }).database.migrationUrl).toBe('postgresql://owner@db/storage');
    expect(loadConfig(PRODUCTION).database.refusePrivilegedRole).toBe(true);
    expect(loadConfig({ ...PRODUCTION, STORAGE_DATABASE_ALLOW_PRIVILEGED_ROLE: 'true' }).database.refusePrivilegedRole).toBe(false);
  });
});

describe('docs/configuration.md', () => {
  it('lists every STORAGE_* variable lib/platform/config.ts reads, and no other', () => {
    const reference = require('node:fs').readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8') as string;
    const documented = [...reference.matchAll(/^\| `(STORAGE_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
    const { configSchema } = require('../../lib/platform/config') as typeof import('../../lib/platform/config');
    expect(documented).toEqual(Object.keys(configSchema.shape).sort());
  });
});
