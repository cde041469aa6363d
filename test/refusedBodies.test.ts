/**
 * A request refused before its body is read is still answered readably. Node's fetch (like many
 * clients) sends the whole body before it reads the answer: were the connection closed under it, the
 * client would see a broken pipe, not the 4xx. The API reads and drops the rest of a refused body,
 * up to STORAGE_MAX_UPLOAD_SIZE; past that it closes the connection, so a refusal costs bounded bandwidth.
 *
 * The API runs as a process of its own, as users run it: in the test's own process, client and
 * server share one event loop, and the client has always read the answer before the close.
 */
import { bearer } from './support/auth';
import { ListPartsCommand } from '@aws-sdk/client-s3';
import http from 'node:http';
import net from 'node:net';
import { bytesOf, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { abortUpload, createUpload, getUpload, openMultipartKeys, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { freePorts } from '../scripts/stack';

const MiB = 1024 * 1024;
const LIMIT = 12 * MiB;
const PART_SIZE = 8 * MiB;
const BODY = bytesOf(PART_SIZE);

let apiProcess: ServiceProcess;
let port: number;
let api: string;
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await apiProcess?.kill();
});
const ctx = useTestService({ STORAGE_MAX_UPLOAD_SIZE: String(LIMIT) });
beforeAll(async () => {
  port = (await freePorts(1))[0];
  api = `http://127.0.0.1:${port}`;
  apiProcess = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port) }));
  await waitUntil('the API to listen', async () => (await fetch(`${api}/health/live`).catch(() => undefined))?.ok);
});

/** A session of two parts: 8 MiB, then 1 MiB. */
async function openSession(): Promise<{ id: string }> {
  const res = await createUpload(api, { name: 'refused parts.bin', size_bytes: PART_SIZE + MiB, part_size_bytes: PART_SIZE });
  expect(res.status).toBe(201);
  return res.body;
}

/** `bytes` sent chunked, without Content-Length (a stream body needs duplex 'half'). */
function putStreamed(id: string, n: number, bytes: Buffer): Promise<JsonAnswer> {
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return call(`${api}/api/v2/uploads/${id}/parts/${n}`, { method: 'PUT', body, duplex: 'half' } as RequestInit);
}

/** What a client got: the answer's status, or the network error fetch failed with. */
async function outcomeOf(request: Promise<JsonAnswer>): Promise<JsonAnswer | string> {
  return request.catch((err: Error & { cause?: Error & { code?: string } }) => `network error: ${err.message} (${err.cause?.code ?? err.cause?.message})`);
}

const statusOf = (outcome: JsonAnswer | string) => (typeof outcome === 'string' ? outcome : outcome.status);

/** What a refused request must leave unchanged: rows, objects, and multipart uploads still open. */
async function footprint() {
  const count = async (table: string) => Number((await ctx.db(table).count({ n: '*' }))[0].n);
  return {
    assets: await count('assets'),
    sessions: await count('upload_sessions'),
    objects: await objectKeys(ctx, 'assets/'),
    openUploads: await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, 'assets/'),
  };
}

/**
 * A PUT whose body never ends, on a socket of its own, framed by `header` (chunked, or a Content-Length
 * larger than anything sent): only the API closing the connection ends it. Answers what was sent by then.
 */
async function sendEndlessBody(path: string, header: string): Promise<{ sentBytes: number; answer: string }> {
  const { authorization } = await bearer();
  const chunked = header === 'Transfer-Encoding: chunked';
  const chunk = bytesOf(MiB);
  const frame = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (answer += text));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ sentBytes: socket.bytesWritten, answer }));
    const pump = () => {
      while (!socket.destroyed && socket.write(frame));
    };
    socket.on('drain', pump);
    socket.write(`PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nContent-Type: application/octet-stream\r\n${header}\r\n\r\n`);
    pump();
  });
}

describe('refused bodies', () => {
  it('answers 50 refused 8 MiB parts each with its 4xx, none with a broken connection; the session still works and stores none of them', async () => {
    const session = await openSession();
    const closed = await openSession();
    expect((await abortUpload(api, closed.id)).status).toBe(204);

    const refused: Array<{ status: number; send: () => Promise<JsonAnswer> }> = [];
    for (let i = 0; i < 25; i++) {
      // Part 0 is refused by the path's schema, part 3 by the session (it has two); a third of them streamed.
      const n = i % 2 === 0 ? 0 : 3;
      refused.push({ status: 400, send: () => (i % 3 === 2 ? putStreamed(session.id, n, BODY) : putPart(api, session.id, n, BODY)) });
    }
    for (let i = 0; i < 25; i++) {
      // Part 2 is 1 MiB, not 8; a closed session takes no parts.
      refused.push(
        i % 2 === 0 ? { status: 400, send: () => putPart(api, session.id, 2, BODY) } : { status: 409, send: () => putPart(api, closed.id, 1, BODY) },
      );
    }
    // One after another, as a client going through its parts does.
    const outcomes: Array<JsonAnswer | string> = [];
    for (const r of refused) outcomes.push(await outcomeOf(r.send()));

    expect(outcomes.map(statusOf)).toEqual(refused.map((r) => r.status));
    for (const [i, outcome] of outcomes.entries()) expectProblem(outcome as JsonAnswer, refused[i].status);

    // The session still works, and holds only the part it took.
    expect((await putPart(api, session.id, 1, BODY)).status).toBe(200);
    expect((await getUpload(api, session.id)).body).toMatchObject({ status: 'open', parts_received: [1], bytes_received: PART_SIZE });
    const row = await ctx.db('upload_sessions').where({ id: session.id }).first();
    const stored = await ctx.s3.send(new ListPartsCommand({ Bucket: ctx.config.s3.bucket, Key: row.object_key, UploadId: row.s3_upload_id }));
    expect((stored.Parts ?? []).map((p) => [p.PartNumber, p.Size])).toEqual([[1, PART_SIZE]]);
    expect((await abortUpload(api, session.id)).status).toBe(204);
  });

  it('answers simple uploads over the size limit (by less than the limit again) with 413, not a broken connection, and keeps nothing of them', async () => {
    const file = bytesOf(LIMIT + PART_SIZE);
    const before = await footprint();
    const outcomes: Array<JsonAnswer | string> = [];
    for (let i = 0; i < 5; i++) outcomes.push(await outcomeOf(uploadAsset(api, file, { name: 'too large.bin' })));

    expect(outcomes.map(statusOf)).toEqual(Array(5).fill(413));
    for (const outcome of outcomes) expectProblem(outcome as JsonAnswer, 413);
    expect(await footprint()).toEqual(before);
  });

  it.each(['Transfer-Encoding: chunked', `Content-Length: ${5 * 1024 * MiB}`])(
    'closes the connection once a refused body (%s) goes past the limit: the API stops reading it',
    async (header) => {
      const { id } = await openSession();
      const { sentBytes, answer } = await sendEndlessBody(`/api/v2/uploads/${id}/parts/0`, header);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      // What the client could send before the close: the limit, and what the two sockets' kernel buffers
      // hold (this machine lets a receive buffer grow to 32 MiB); an API that read on would never close.
      expect(sentBytes).toBeLessThan(LIMIT + 64 * MiB);
      expect((await abortUpload(api, id)).status).toBe(204);
    },
  );
});

it('keeps an idle connection past the idle timeout of a load balancer in front, and tells its clients: one retrying after Retry-After does not send on a socket being closed', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const announced = await new Promise<string | undefined>((resolve, reject) => {
      http
        .get(`${api}/health/live`, { agent }, (res) => {
          res.resume();
          resolve(String(res.headers['keep-alive'] ?? ''));
        })
        .on('error', reject);
    });
    // Clients (Node's fetch among them) reuse an idle socket until about a second before this.
    const seconds = Number(/timeout=(\d+)/.exec(announced ?? '')?.[1]);
    expect(seconds).toBeGreaterThan(60);
  } finally {
    agent.destroy();
  }
});
