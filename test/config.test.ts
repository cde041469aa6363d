import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ConfigError, loadConfig } from '../lib/platform/config';

const ROOT = path.resolve(__dirname, '..');

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

describe('README', () => {
  it('lists every STORAGE_* variable lib/platform/config.ts reads, and no other', () => {
    const readme = require('node:fs').readFileSync(path.join(ROOT, 'README.md'), 'utf8') as string;
    const documented = [...readme.matchAll(/^\| `(STORAGE_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
    const { configSchema } = require('../lib/platform/config') as typeof import('../lib/platform/config');
    expect(documented).toEqual(Object.keys(configSchema.shape).sort());
  });
});
