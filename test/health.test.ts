import { buildApp } from '../api/app';
import { createDb } from '../lib/platform/db';
import { createLogger } from '../lib/platform/logger';
import { createS3Client } from '../lib/platform/s3Client';
import { createTemporalClient } from '../lib/platform/temporal';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { call } from './support/http';
import { useTestService, testConfig } from './support/context';

// A port on loopback where nothing listens: connections are refused at once.
const CLOSED = '127.0.0.1:9';

const ctx = useTestService();

describe('health with every dependency up', () => {
  it('is live', async () => {
    const res = await call(`${ctx.baseUrl}/health/live`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('is ready, each check ok', async () => {
    const { status, body } = await call(`${ctx.baseUrl}/health/ready`);
    expect(status).toBe(200);
    expect(body.checks.database.status).toBe('ok');
    expect(body.checks.object_store.status).toBe('ok');
    expect(body.checks.temporal.status).toBe('ok');
  });

  it('reports ok on /health', async () => {
    const res = await call(`${ctx.baseUrl}/health`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
  });
});

describe('health with one dependency unreachable', () => {
  async function serve(overrides: Record<string, string>) {
    const config = testConfig({ STORAGE_HEALTH_TIMEOUT_MS: '1500', STORAGE_S3_BUCKET_NAME: ctx.config.s3.bucket, ...overrides });
    const deps = {
      config,
      db: createDb(config.database.url, 1),
      s3: createS3Client(config.s3, { maxAttempts: 1 }),
      temporal: createTemporalClient(config.temporal),
      logger: createLogger('silent'),
    };
    const server: Server = await new Promise((resolve) => {
      const s = buildApp(deps).listen(0, '127.0.0.1', () => resolve(s));
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const close = async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await deps.db.destroy();
      deps.s3.destroy();
      await deps.temporal.close().catch(() => {});
    };
    return { url, close };
  }

  const cases: Array<[string, 'database' | 'object_store' | 'temporal', Record<string, string>]> = [
    ['PostgreSQL', 'database', { STORAGE_DATABASE_URL: `postgresql://postgres@${CLOSED}/storage_db` }],
    ['S3', 'object_store', { STORAGE_S3_ENDPOINT_URL: `http://${CLOSED}` }],
    ['Temporal', 'temporal', { STORAGE_TEMPORAL_ADDRESS: CLOSED }],
  ];

  it.each(cases)('is 503 when %s is unreachable, naming the failed check', async (_name, check, overrides) => {
    const { url, close } = await serve(overrides);
    try {
      const ready = await call(`${url}/health/ready`);
      const body = ready.body;
      expect(ready.status).toBe(503);
      expect(body.checks[check].status).toBe('down');
      expect(body.checks[check].error).toEqual(expect.any(String));
      for (const other of ['database', 'object_store', 'temporal'].filter((c) => c !== check)) {
        expect({ [other]: body.checks[other] }).toEqual({ [other]: expect.objectContaining({ status: 'ok' }) });
      }
      const combined = await call(`${url}/health`);
      expect(combined.status).toBe(503);
      expect(combined.body.status).toBe('degraded');
      // Liveness does not depend on the dependencies.
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
    } finally {
      await close();
    }
  });
});

describe('errors and request ids', () => {
  it('answers an unknown route with problem+json 404', async () => {
    const res = await call(`${ctx.baseUrl}/api/v2/nothing-here`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = res.body;
    expect(body).toMatchObject({ status: 404, title: 'Not Found' });
    expect(body.detail).toContain('/api/v2/nothing-here');
  });

  it('answers malformed JSON with problem+json 400', async () => {
    const res = await call(`${ctx.baseUrl}/api/v2/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body.detail).toMatch(/malformed JSON/);
  });

  it('echoes the client X-Request-Id and makes one otherwise', async () => {
    const echoed = await fetch(`${ctx.baseUrl}/health/live`, { headers: { 'X-Request-Id': 'client-req-42' } });
    expect(echoed.headers.get('x-request-id')).toBe('client-req-42');
    const made = await fetch(`${ctx.baseUrl}/health/live`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
