/**
 * The typed client (client/): its generated types are what the running app serves, it sends the
 * token and a request id, retries 429 and 503 as the server asks, and throws typed problems.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createStorageClient, Denied, NotFound, unwrap } from '../client';
import { adminToken } from './support/auth';
import { useTestService } from './support/context';

const ctx = useTestService({}, { worker: false });

/** `npm run client:generate -- --check` on a document: its exit code (openapi-typescript loads only as ES modules, so not in jest). */
async function check(document: unknown): Promise<number> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-')), 'openapi.json');
  fs.writeFileSync(file, JSON.stringify(document));
  const root = path.join(__dirname, '..');
  return promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/generateClient.ts', '--document', file, '--check'], { cwd: root }).then(
    () => 0,
    (err: { code: number }) => err.code,
  );
}

test('the committed client/schema.d.ts is what the served /openapi.json generates (else: npm run client:generate), and a change to the document is caught', async () => {
  const served: any = await (await fetch(`${ctx.baseUrl}/openapi.json`)).json();
  expect(await check(served)).toBe(0);
  delete served.paths['/api/v2/events'];
  expect(await check(served)).toBe(1);
}, 120_000);

test('a missing asset is NotFound, a request without a token is Denied, each with the API problem and its request id', async () => {
  const client = createStorageClient({ baseUrl: ctx.baseUrl, token: await adminToken() });
  const missing = await unwrap(client.GET('/api/v2/assets/{id}', { params: { path: { id: '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69' } } })).catch((e) => e);
  expect(missing).toBeInstanceOf(NotFound);
  expect(missing).toMatchObject({ status: 404, body: { status: 404, title: expect.any(String) }, requestId: expect.any(String) });
  const anonymous = createStorageClient({ baseUrl: ctx.baseUrl });
  const denied = await unwrap(anonymous.GET('/api/v2/assets', {})).catch((e) => e);
  expect(denied).toBeInstanceOf(Denied);
  expect(denied.status).toBe(401);
  const page = await unwrap(client.GET('/api/v2/assets', { params: { query: { limit: 1 } } }));
  expect(page).toEqual({ items: [], next_cursor: null });
});

/** A server that refuses the first `refusals` requests with `status` and Retry-After, then answers 200. */
async function refusing(status: number, refusals: number, retryAfter?: string) {
  const seen: Array<{ at: number; requestId: string | undefined; authorization: string | undefined; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ at: Date.now(), requestId: req.headers['x-request-id'] as string, authorization: req.headers.authorization, body });
      if (seen.length <= refusals) {
        res.writeHead(status, { 'content-type': 'application/problem+json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) });
        res.end(JSON.stringify({ type: 'about:blank', title: 'slow down', status, detail: 'try later', errors: [] }));
      } else {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'run' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test('a 429 is sent again after its Retry-After, with the same request id, token and body', async () => {
  const server = await refusing(429, 1, '1');
  try {
    const client = createStorageClient({ baseUrl: server.url, token: 'tok' });
    await unwrap(client.POST('/api/v2/lifecycle/runs', { body: { dry_run: true } }));
    expect(server.seen).toHaveLength(2);
    expect(server.seen[1].at - server.seen[0].at).toBeGreaterThanOrEqual(950);
    expect(new Set(server.seen.map((s) => s.requestId)).size).toBe(1);
    expect(server.seen.map((s) => [s.authorization, s.body])).toEqual([
      ['Bearer tok', '{"dry_run":true}'],
      ['Bearer tok', '{"dry_run":true}'],
    ]);
  } finally {
    await server.close();
  }
});

test('503s are retried with backoff, and one that outlasts the retries is thrown as Unavailable', async () => {
  const server = await refusing(503, 10);
  try {
    const client = createStorageClient({ baseUrl: server.url, retries: 2, baseDelayMs: 50 });
    const err = await unwrap(client.POST('/api/v2/lifecycle/runs', { body: {} })).catch((e) => e);
    expect(err).toMatchObject({ name: 'Unavailable', status: 503 });
    expect(server.seen).toHaveLength(3);
  } finally {
    await server.close();
  }
});
