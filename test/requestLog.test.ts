/**
 * What the API writes to its log never holds a secret a request carried (issue 23): a query string
 * is logged as its parameter names alone, so a signed URL's signature is never written, neither in
 * the request line nor in the errors logged while serving it (a download cut by the store, a store
 * that is down); a bearer token never is either.
 */
import { buildApp } from '../api/app';
import { createLogger } from '../lib/platform/logger';
import { createS3Client } from '../lib/platform/s3Client';
import { bytesOf } from './support/assets';
import { adminToken } from './support/auth';
import { addAsset } from './support/catalog';
import { useTestService, serve, type ServedApp } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

let store: TcpProxy;
let served: ServedApp | undefined;
let baseUrl: string;
const written: string[] = [];

// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await served?.close();
  await store?.close();
});
const ctx = useTestService();
beforeAll(async () => {
  // An API of its own, logging into `written`, reading the store through a proxy the test can cut.
  const endpoint = new URL(ctx.config.s3.endpoint);
  store = await startTcpProxy(Number(endpoint.port), endpoint.hostname);
  const s3 = createS3Client({ ...ctx.config.s3, endpoint: `http://127.0.0.1:${store.port}` });
  const logger = createLogger('info', {}, { write: (line: string) => written.push(line) });
  const app = buildApp({ config: ctx.config, db: ctx.db, s3, temporal: ctx.temporal, logger });
  served = await serve(app);
  baseUrl = served.baseUrl;
});

const logged = () => written.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('a signed URL', () => {
  const file = bytesOf(512 * 1024);
  let url: string;
  let signature: string;

  beforeAll(async () => {
    const asset = (await addAsset(ctx.baseUrl, file, { name: 'handout.png', content_type: 'image/png' })).body;
    url = (await call(`${ctx.baseUrl}/api/v2/assets/${asset.id}/url`, { method: 'POST', json: {} })).body.url;
    signature = new URL(url, baseUrl).searchParams.get('sig')!;
    expect(signature.length).toBeGreaterThan(20);
  });
  afterEach(() => store.up());

  it('is logged by its parameter names, without the signature', async () => {
    const res = await fetch(`${baseUrl}${url}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const line = await waitUntil('the request line', async () => logged().find((l) => l.msg === 'request' && String(l.path).startsWith(url.split('?')[0])));
    expect(line.path).toBe(`${url.split('?')[0]}?expires&disposition&by&sig`);
    expect(written.join('')).not.toContain(signature);
  });

  it('is logged without the signature when the store cuts its download', async () => {
    store.cutAfter(64 * 1024);
    await fetch(`${baseUrl}${url}`)
      .then((res) => res.arrayBuffer())
      .catch(() => undefined);
    const cut = await waitUntil('the cut to be logged', async () => logged().find((l) => l.msg === 'download cut: the object store stream failed'));
    expect(cut.path).toBe(`${url.split('?')[0]}?expires&disposition&by&sig`);
    expect(written.join('')).not.toContain(signature);
  });

  it('is logged without the signature when the store is down', async () => {
    store.down();
    expect((await fetch(`${baseUrl}${url}`)).status).toBe(503);
    const failed = await waitUntil('the failure to be logged', async () => logged().find((l) => l.msg === 'object store unreachable'));
    expect(failed.path).toBe(`${url.split('?')[0]}?expires&disposition&by&sig`);
    expect(written.join('')).not.toContain(signature);
  });
});

it('logs neither a bearer token nor a query value', async () => {
  const token = await adminToken();
  const res = await fetch(`${baseUrl}/api/v2/assets?name_prefix=secret-campaign&limit=5`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const line = await waitUntil('the request line', async () => logged().find((l) => l.msg === 'request' && String(l.path).startsWith('/api/v2/assets?')));
  expect(line.path).toBe('/api/v2/assets?name_prefix&limit');
  expect(written.join('')).not.toContain('secret-campaign');
  expect(written.join('')).not.toContain(token.split('.')[2]);
});
