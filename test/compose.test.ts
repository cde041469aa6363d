import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema, loadConfig } from '../lib/platform/config';
import { API_NODE_FLAGS } from '../scripts/stack';

// Docker does not run on the machines that test this repo, so the file is checked by reading it.
const ROOT = path.resolve(__dirname, '..');
// What an operator exports before `docker compose up`, put in as Compose interpolates `${NAME:?why}` and `${NAME:-default}`.
const OPERATOR_ENV: Record<string, string> = {
  STORAGE_AUTH_JWKS_URL: 'https://auth.example/.well-known/jwks.json',
  STORAGE_AUTH_ISSUER: 'https://auth.example',
  STORAGE_URL_SIGNING_KEYS: 'k'.repeat(44),
};
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) => {
    if (env[name] !== undefined) return env[name];
    if (kind === '-') return rest ?? '';
    throw new Error(`docker compose would stop: ${name} is not set (${rest})`);
  });
}
const composeText = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
// Compose merges `<<:` keys, as YAML 1.1 does.
const compose = parse(interpolate(composeText, OPERATOR_ENV), { merge: true });
const knownVariables = Object.keys(configSchema.shape);

describe('docker-compose.yml', () => {
  it('has the production-like stack: database, Temporal with its UI, SeaweedFS, Redis, setup, API and worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'postgres', 'redis', 'seaweedfs', 'setup', 'temporal', 'temporal-ui', 'worker']);
  });

  it("shares the API replicas' rate limits in its Redis, and encrypts at rest", () => {
    const config = loadConfig(compose.services.api.environment);
    expect(new URL(config.redisUrl!).host).toBe('redis:6379');
    expect(config.s3.sse).toEqual({ mode: 'AES256' });
    expect(config.rateLimits.enabled).toBe(true);
  });

  it('cannot come up without the Auth Service and a URL signing key', () => {
    expect(() => interpolate(composeText, {})).toThrow(/STORAGE_AUTH_JWKS_URL is not set/);
    expect(() => interpolate(composeText, { ...OPERATOR_ENV, STORAGE_URL_SIGNING_KEYS: undefined! })).toThrow(/STORAGE_URL_SIGNING_KEYS is not set/);
    expect(compose.services.api.environment.STORAGE_AUTH_AUDIENCE).toBe('storage-service');
  });

  it('runs the API and the worker as a login of storage_app; only setup has the URL of the tables’ owner', () => {
    const roles = fs.readFileSync(path.join(ROOT, 'deploy', 'postgres-roles.sql'), 'utf8');
    expect(compose.services.postgres.volumes).toContain('./deploy/postgres-roles.sql:/docker-entrypoint-initdb.d/10-roles.sql:ro');
    for (const name of ['api', 'worker']) {
      const config = loadConfig(compose.services[name].environment);
      expect(new URL(config.database.url).username).toBe('storage_service');
      expect(config.database.refusePrivilegedRole).toBe(true);
      expect(compose.services[name].environment.STORAGE_DATABASE_MIGRATION_URL).toBeUndefined();
    }
    expect(roles).toMatch(/CREATE ROLE storage_service LOGIN PASSWORD '[^']+' IN ROLE storage_app;/);
    expect(new URL(loadConfig(compose.services.setup.environment).database.migrationUrl).username).toBe(compose.services.postgres.environment.POSTGRES_USER);
  });

  it('publishes the ports docs/operations.md and the defaults name', () => {
    const ports = (name: string) => compose.services[name].ports as string[];
    expect(ports('api')).toContain('8005:8005');
    expect(ports('temporal')).toContain('7233:7233');
    expect(ports('temporal-ui')).toContain('8233:8080');
    expect(ports('seaweedfs')).toContain('8333:8333');
    expect(ports('postgres')).toContain('5432:5432');
  });

  it.each(['api', 'worker', 'setup'])('gives %s only STORAGE_* variables lib/platform/config.ts knows, and a valid configuration', (name) => {
    const env = compose.services[name].environment as Record<string, string>;
    const storageVars = Object.keys(env).filter((k) => k.startsWith('STORAGE_'));
    expect(storageVars.filter((k) => !knownVariables.includes(k))).toEqual([]);
    const config = loadConfig(env);
    // Service names in the variables are services of the file, on the ports they listen on.
    expect(new URL(config.s3.endpoint).host).toBe('seaweedfs:8333');
    expect(config.temporal.address).toBe('temporal:7233');
    expect(new URL(config.database.url).host).toBe('postgres:5432');
    expect(config.http.port).toBe(8005);
  });

  it('runs the entry points the build produces', () => {
    const entry = (name: string) => (compose.services[name].command as string[]).join(' ');
    expect(entry('api')).toBe(['node', ...API_NODE_FLAGS, 'dist/api/server.js'].join(' '));
    expect(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).toContain(
      `CMD ${JSON.stringify(['node', ...API_NODE_FLAGS, 'dist/api/server.js']).replace(/","/g, '", "')}`,
    );
    expect(entry('worker')).toBe('node dist/worker/main.js');
    expect(entry('setup')).toBe('node dist/scripts/setup.js');
    for (const source of ['api/server.ts', 'worker/main.ts', 'scripts/setup.ts']) {
      expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
    }
  });

  // The AWS SDK v3 stops supporting Node 20 in January 2027; the machines that run the tests still have 20.
  it('builds and runs the image on Node 22 or later', () => {
    const bases = [...fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(bases.length).toBeGreaterThan(0);
    for (const major of bases) expect(major).toBeGreaterThanOrEqual(22);
  });

  it('gives SeaweedFS the credentials the services use', () => {
    const identities = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/seaweedfs-s3.json'), 'utf8')).identities;
    const env = compose.services.api.environment as Record<string, string>;
    expect(identities[0].credentials[0]).toEqual({ accessKey: env.STORAGE_S3_ACCESS_KEY_ID, secretKey: env.STORAGE_S3_SECRET_ACCESS_KEY });
  });
});
