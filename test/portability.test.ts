/**
 * A second S3 implementation (issue 26, finding 12), played by the fault proxy in front of the test
 * store: one that formats a multipart object's SHA-256 checksum its own way (moto), and one that checks
 * no checksum a request carries. Neither may change what is committed: a store's formatting is no
 * reason to refuse an upload, and bytes the service refused are never committed, whether or not the
 * store would have refused them too.
 */
import { CreateMultipartUploadCommand, ListPartsCommand, UploadPartCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../api/app';
import { createS3Client } from '../lib/platform/s3Client';
import { uuidv7 } from '../lib/platform/ids';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { completeUpload, createUpload, getUpload, putPart } from './support/chunked';
import { useTestService, type RunningWorker } from './support/context';
import { expectProblem } from './support/http';
import { startS3Proxy, type ProxiedRequest, type S3Proxy } from './support/s3Proxy';

const MiB = 1024 * 1024;

// An API and a worker of their own over the same catalog and bucket, whose store is behind the proxy.
let store: S3Proxy;
let proxied: { baseUrl: string; close(): Promise<void> };
let worker: RunningWorker;
afterAll(async () => {
  await proxied?.close();
  await worker?.stop();
  await store?.close();
});
const ctx = useTestService({}, { worker: false });
beforeAll(async () => {
  store = await startS3Proxy(ctx.config.s3.endpoint);
  worker = await ctx.startWorker({ s3Endpoint: store.url });
  const s3 = createS3Client({ ...ctx.config.s3, endpoint: store.url });
  const app = buildApp({ config: ctx.config, db: ctx.db, s3, temporal: ctx.temporal, logger: ctx.logger });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  proxied = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      s3.destroy();
    },
  };
});
afterEach(() => {
  store.rewriteAnswers();
  store.rewriteRequests();
});

const CHECKSUM_HEADER = 'x-amz-checksum-sha256';
/** HeadObject, and CompleteMultipartUpload (a POST naming an uploadId): the answers that report an object's checksum. */
const reportsChecksum = (req: ProxiedRequest) => req.method === 'HEAD' || (req.method === 'POST' && /[?&]uploadId=/.test(req.path));

/** Other ways a store writes the same checksum: the composite without its part count, or in hex. */
const OTHER_FORMATS: Array<[string, (reported: string) => string]> = [
  ['without the -<parts> suffix', (reported) => reported.replace(/-\d+$/, '')],
  ['in hex rather than base64', (reported) => reported.replace(/^[^-]+/, (b64) => Buffer.from(b64, 'base64').toString('hex'))],
];

describe("a store that formats a multipart object's checksum its own way", () => {
  it.each(OTHER_FORMATS)('takes a simple upload over 5 MiB whose checksum the store reports %s, read back with the right SHA-256', async (_how, reformat) => {
    store.rewriteAnswers(reportsChecksum, (answer) => {
      const reported = answer.headers[CHECKSUM_HEADER];
      const headers = typeof reported === 'string' ? { ...answer.headers, [CHECKSUM_HEADER]: reformat(reported) } : answer.headers;
      const xml = answer.body.toString('utf8');
      const body = xml.includes('<ChecksumSHA256>')
        ? Buffer.from(xml.replace(/<ChecksumSHA256>([^<]*)<\/ChecksumSHA256>/, (_m, v: string) => `<ChecksumSHA256>${reformat(v)}</ChecksumSHA256>`))
        : answer.body;
      return { ...answer, headers, body };
    });
    const file = bytesOf(6 * MiB + 1234);
    const before = store.requests.length;
    const res = await uploadAsset(proxied.baseUrl, file, { name: `moto ${uuidv7()}` });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ size_bytes: file.length, checksum_sha256: sha256(file) });
    // The store's report did not confirm the object, so it was read back: a GET of its whole key (the
    // commit's ranged GET of the first bytes, for their type, is no read-back).
    const key = (await ctx.db('asset_versions').where({ asset_id: res.body.id }).first()).object_key as string;
    expect(store.requests.slice(before).some((r) => r.method === 'GET' && r.path.includes(key) && r.range === undefined)).toBe(true);
    const got = await download(`${proxied.baseUrl}/api/v2/assets/${res.body.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });
});

describe('a store that checks no checksum a request carries', () => {
  const partUpload = (req: ProxiedRequest) => req.method === 'PUT' && /[?&]partNumber=/.test(req.path);
  const stripChecksum = () =>
    store.rewriteRequests(
      partUpload,
      (headers) => {
        const { [CHECKSUM_HEADER]: _checksum, 'x-amz-sdk-checksum-algorithm': _algorithm, ...rest } = headers;
        return rest;
      },
      ctx.config.s3,
    );

  it('(the proxy plays one: a part whose checksum is wrong is kept by it)', async () => {
    stripChecksum();
    const s3 = createS3Client({ ...ctx.config.s3, endpoint: store.url });
    const key = `probe/${uuidv7()}`;
    try {
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: key }));
      const body = bytesOf(1000);
      await s3.send(
        new UploadPartCommand({
          Bucket: ctx.config.s3.bucket,
          Key: key,
          UploadId,
          PartNumber: 1,
          Body: body,
          ChecksumSHA256: Buffer.alloc(32).toString('base64'),
        }),
      );
      const listed = await s3.send(new ListPartsCommand({ Bucket: ctx.config.s3.bucket, Key: key, UploadId }));
      expect(listed.Parts?.map((p) => p.PartNumber)).toEqual([1]);
      await s3.send(new AbortMultipartUploadCommand({ Bucket: ctx.config.s3.bucket, Key: key, UploadId }));
    } finally {
      s3.destroy();
    }
  });

  it('a part refused for its X-Checksum-SHA256 is not kept, so never committed: complete asks for it again', async () => {
    stripChecksum();
    const file = bytesOf(300_000);
    const session = await createUpload(proxied.baseUrl, { name: `unchecked ${uuidv7()}`, size_bytes: file.length });
    expect(session.status).toBe(201);
    const { id } = session.body;
    const damaged = Buffer.from(file);
    damaged[250_000] ^= 0xff;

    expectProblem(await putPart(proxied.baseUrl, id, 1, damaged, { 'X-Checksum-SHA256': sha256(file) }), 422);
    expect((await getUpload(proxied.baseUrl, id)).body).toMatchObject({ status: 'open', parts_received: [], bytes_received: 0 });
    const refused = await completeUpload(proxied.baseUrl, id);
    expect(refused.status).toBe(409);
    expect(refused.body.missing_parts).toEqual([1]);

    // Sent again as declared, it completes with the bytes sent.
    expect((await putPart(proxied.baseUrl, id, 1, file, { 'X-Checksum-SHA256': sha256(file) })).status).toBe(200);
    const done = await completeUpload(proxied.baseUrl, id);
    expect(done.status).toBe(200);
    expect(done.body.asset.checksum_sha256).toBe(sha256(file));
    const got = await download(`${proxied.baseUrl}/api/v2/assets/${done.body.asset.id}/content`);
    expect(sha256(got.body)).toBe(sha256(file));
  });
});
