/**
 * A dependency that stops answering (S3 refusing or hanging, Temporal cut off) is an outage, not a
 * bug: the API answers 503 problem+json with Retry-After, naming the dependency, promptly enough for a
 * client to come back (docs/operations.md, "Retry bounds"), and changes nothing. The typed client retries a 503;
 * it never retried the 500 these were before.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import { API_S3_ANSWER_WITHIN_MS, createS3Client } from '../lib/platform/s3Client';
import { createTemporalClient } from '../lib/platform/temporal';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { addAsset } from './support/catalog';
import { createUpload, getUpload, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy';

let s3Proxy: TcpProxy;
let temporalProxy: TcpProxy;
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await s3Proxy?.close();
  await temporalProxy?.close();
});
const ctx = useTestService();
beforeAll(async () => {
  s3Proxy = await startTcpProxy(Number(new URL(ctx.config.s3.endpoint).port));
  const [host, port] = ctx.config.temporal.address.split(':');
  temporalProxy = await startTcpProxy(Number(port), host);
});
afterEach(() => {
  s3Proxy.up();
  temporalProxy.up();
});

/** An API of its own over the same catalog whose S3 and Temporal clients go through the proxies. */
async function serveThroughProxies(): Promise<{ url: string; close(): Promise<void> }> {
  const config = {
    ...ctx.config,
    s3: { ...ctx.config.s3, endpoint: `http://127.0.0.1:${s3Proxy.port}` },
    temporal: { ...ctx.config.temporal, address: `127.0.0.1:${temporalProxy.port}` },
  };
  const s3 = createS3Client(config.s3, { answerWithinMs: API_S3_ANSWER_WITHIN_MS });
  const temporal = createTemporalClient(config.temporal);
  const server: Server = await new Promise((resolve) => {
    const s = buildApp({ config, db: ctx.db, s3, temporal, logger: ctx.logger }).listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await temporal.close();
      s3.destroy();
    },
  };
}

function unavailable(res: JsonAnswer, dependency: string): void {
  expectProblem(res, 503);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(res.body).toMatchObject({ dependency });
  // Nothing of where the dependency is, nor of how the connection failed.
  expect(res.body.detail).not.toMatch(/127\.0\.0\.1|ECONN|UNAVAILABLE|at /);
}

async function counts(): Promise<Record<string, unknown>> {
  const [assets, versions, sessions] = await Promise.all(
    ['assets', 'asset_versions', 'upload_sessions'].map(async (table) => Number((await ctx.db(table).count({ n: '*' }))[0].n)),
  );
  return { assets, versions, sessions };
}

describe.each([
  ['refuses every connection', () => s3Proxy.down()],
  ['accepts connections and never answers', () => s3Proxy.stall()],
])('S3 %s', (_how, cut) => {
  // Before: a store that hung held the request until the HTTP server's own timeout.
  it("a content read, a simple upload and a chunked session's part answer 503 with Retry-After naming the object store; nothing changes", async () => {
    const file = bytesOf(1500);
    const asset = (await addAsset(ctx.baseUrl, file, { name: 'before.png' })).body;
    const session = (await createUpload(ctx.baseUrl, { name: 'parts.bin', size_bytes: 1000 })).body;
    const api = await serveThroughProxies();
    try {
      const before = await counts();
      cut();
      unavailable(await call(`${api.url}/api/v2/assets/${asset.id}/content`), 'object_store');
      unavailable(await uploadAsset(api.url, bytesOf(2000), { name: 'lost.png' }), 'object_store');
      unavailable(await putPart(api.url, session.id, 1, bytesOf(1000)), 'object_store');
      expect(await counts()).toEqual(before);

      s3Proxy.up();
      expect(sha256((await download(`${api.url}/api/v2/assets/${asset.id}/content`)).body)).toBe(sha256(file));
      expect((await getUpload(api.url, session.id)).body.parts_received).toEqual([]);
    } finally {
      s3Proxy.up();
      await api.close();
    }
  }, 90_000);
});

// Before: each call retried for the SDK's 10 attempts (about 20 s), then a 500.
it('Temporal cut off: an upload, a chunked session and a permanent delete answer 503 with Retry-After naming Temporal; reads go on; nothing changes', async () => {
  const file = bytesOf(1200);
  const asset = (await addAsset(ctx.baseUrl, file, { name: 'kept.png' })).body;
  const api = await serveThroughProxies();
  try {
    const before = await counts();
    temporalProxy.down();
    unavailable(await uploadAsset(api.url, bytesOf(2000), { name: 'lost.png' }), 'temporal');
    unavailable(await createUpload(api.url, { name: 'lost.bin', size_bytes: 1000 }), 'temporal');
    unavailable(await call(`${api.url}/api/v2/assets/${asset.id}?permanent=true`, { method: 'DELETE' }), 'temporal');
    expect((await call(`${api.url}/api/v2/assets/${asset.id}`)).status).toBe(200);
    expect(sha256((await download(`${api.url}/api/v2/assets/${asset.id}/content`)).body)).toBe(sha256(file));
    expect(await counts()).toEqual(before);
  } finally {
    temporalProxy.up();
    await api.close();
  }
}, 90_000);
