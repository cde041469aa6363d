/**
 * No request can end the process (issue 23). Malformed multipart bodies, sent by an ordinary user to
 * an API running as a process of its own (a crash shows as its exit): each is answered with a 4xx
 * problem+json, leaves no session, asset, version, object or multipart upload, and the API goes on
 * answering. A body that never ends is cut by the request timeout (STORAGE_REQUEST_TIMEOUT_MS, short here).
 */
import net from 'node:net';
import { bytesOf } from './support/assets';
import { tokenFor } from './support/auth';
import { footprintOf } from './support/catalog';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { envFor, spawnService, waitUntil, type ServiceProcess } from './support/processes';
import { freePorts } from '../scripts/stack';

const MiB = 1024 * 1024;
const REQUEST_TIMEOUT_MS = 4000;

let apiProcess: ServiceProcess;
let port: number;
let api: string;
let token: string;
let assetId: string;
// Declared before the service: hooks run in the order they are declared, so this runs before it stops.
afterAll(async () => {
  await apiProcess?.kill();
});
const ctx = useTestService({ STORAGE_MAX_UPLOAD_SIZE: String(16 * MiB) });
beforeAll(async () => {
  port = (await freePorts(1))[0];
  api = `http://127.0.0.1:${port}`;
  apiProcess = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port), STORAGE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) }));
  await waitUntil('the API to listen', async () => (await fetch(`${api}/health/live`).catch(() => undefined))?.ok);
  token = await tokenFor({ sub: `mallory-${port}` });
  // An asset of the user's own, to send new versions of.
  const form = new FormData();
  form.append('file', new Blob([bytesOf(1024)]), 'mine.bin');
  const made = await call(`${api}/api/v2/assets/upload`, { method: 'POST', body: form, as: token });
  expect(made.status).toBe(201);
  assetId = made.body.id;
});

const footprint = () => footprintOf(ctx);

/** The API process is still there, and answers. */
async function expectAnswering() {
  expect({ exitCode: apiProcess.child.exitCode, signal: apiProcess.child.signalCode }).toEqual({ exitCode: null, signal: null });
  expect((await fetch(`${api}/health/live`)).status).toBe(200);
}

function postMultipart(path: string, body: Buffer | string, boundary = 'XX'): Promise<JsonAnswer> {
  return call(`${api}${path}`, {
    method: 'POST',
    as: token,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: typeof body === 'string' ? Buffer.from(body, 'latin1') : body,
  });
}

const uploadPath = '/api/v2/assets/upload';
const versionsPath = () => `/api/v2/assets/${assetId}/versions`;
const filePart = (name = 'file') => `--XX\r\nContent-Disposition: form-data; name="${name}"; filename="a"\r\n\r\n`;
// The body, byte for byte: the file part ends without its closing boundary.
const CUT = `${filePart()}abc`;

describe('a file part that ends without its closing boundary', () => {
  it.each([
    ['POST /api/v2/assets/upload', () => uploadPath],
    ['POST /api/v2/assets/{id}/versions', versionsPath],
  ])('%s answers 400 problem+json, keeps nothing, and the API goes on answering', async (_route, path) => {
    const before = await footprint();
    const res = await postMultipart(path(), CUT);
    expectProblem(res, 400);
    expect(res.body.detail).toMatch(/malformed multipart\/form-data/);
    await expectAnswering();
    expect(await footprint()).toEqual(before);
  });
});

/** One malformed body of each kind the issue names, sent to both routes that read a form. */
const BURST: Array<[string, () => Buffer | string, string?]> = [
  ['the issue body', () => CUT],
  ['cut inside a part header', () => '--XX\r\nContent-Disposition: form-da'],
  ['cut after a whole field, before the file', () => `--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n${filePart()}`],
  ['cut in the closing boundary', () => `${CUT}\r\n--X`],
  ['cut after 1 MiB of the file', () => Buffer.concat([Buffer.from(filePart()), bytesOf(MiB)])],
  ['cut inside a second file part', () => `${filePart()}abc\r\n${filePart('other')}abc`],
  ['cut inside a file part of another name', () => `${filePart('attachment')}abc`],
  ['a boundary other than the header says', () => `--YY\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc\r\n--YY--\r\n`],
  ['a part header of 1 MiB', () => `--XX\r\nContent-Disposition: form-data; name="file"; filename="${'a'.repeat(MiB)}"\r\n\r\nabc\r\n--XX--\r\n`],
  [
    '5,000 header lines in one part',
    () => `--XX\r\n${'X-Filler: y\r\n'.repeat(5000)}Content-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc\r\n--XX--\r\n`,
  ],
  [
    '100,000 fields after the file',
    () => `${filePart()}abc\r\n${'--XX\r\nContent-Disposition: form-data; name="tags"\r\n\r\nt\r\n'.repeat(100_000)}--XX--\r\n`,
  ],
  [
    '100,000 fields before the file',
    () => `${'--XX\r\nContent-Disposition: form-data; name="tags"\r\n\r\nt\r\n'.repeat(100_000)}${filePart()}abc\r\n--XX--\r\n`,
  ],
  ['a field of 1 MiB', () => `--XX\r\nContent-Disposition: form-data; name="tags"\r\n\r\n${'t,'.repeat(MiB / 2)}\r\n${filePart()}abc\r\n--XX--\r\n`],
  ['no boundary at all', () => CUT, ''],
];

describe('a burst of malformed bodies', () => {
  it('answers each with a 4xx problem+json, keeps nothing of any, and the API goes on answering', async () => {
    const before = await footprint();
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const path of [uploadPath, versionsPath()]) {
      for (const [kind, body, boundary] of BURST) {
        const res = await postMultipart(path, body(), boundary ?? 'XX').catch((err: Error & { cause?: Error }) => ({
          status: `network error: ${err.message} (${err.cause?.message})`,
          headers: new Headers(),
          body: undefined,
        }));
        const problem = /^application\/problem\+json/.test(res.headers.get('content-type') ?? '');
        outcomes.push(`${path} ${kind}: ${res.status}${problem ? ' problem' : ''}`);
        expected.push(`${path} ${kind}: 400 problem`);
      }
    }
    expect(outcomes).toEqual(expected);
    await expectAnswering();
    expect(await footprint()).toEqual(before);
  });

  it('answers an HTTP header past the size limit with 431 problem+json, and goes on answering', async () => {
    const answer = await exchange(`GET /api/v2/assets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 431, title: 'Request Header Fields Too Large' });
    await expectAnswering();
  });

  it('answers a chunked body whose framing is broken with 400 problem+json, and goes on answering', async () => {
    const head = `POST ${uploadPath} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=XX\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const answer = await exchange(`${head}5\r\n--XX\r\nnot-a-size\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    await expectAnswering();
  });
});

/** Sends `raw` on a socket of its own, keeps it open, and answers what came back once the API closed it. */
function exchange(raw: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (answer += text));
    socket.on('error', () => {});
    socket.on('close', () => resolve(answer));
    socket.write(raw);
  });
}

describe('a body that never ends', () => {
  const stalled = (path: string, contentType: string, start: string, extra = '') =>
    `PUT ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: ${contentType}\r\nContent-Length: ${MiB}\r\n${extra}\r\n${start}`;

  it('a simple upload whose file part stalls is cut by the request timeout with 408 problem+json, and keeps nothing', async () => {
    const before = await footprint();
    const answer = await exchange(stalled(uploadPath, 'multipart/form-data; boundary=XX', CUT).replace(/^PUT/, 'POST'));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    await expectAnswering();
    // The session the stalled upload opened is aborted once its request is gone.
    await waitUntil('the stalled upload to leave nothing', async () => JSON.stringify(await footprint()) === JSON.stringify(before), 60_000, 250);
  });

  it('a chunked upload part that stalls is cut by the request timeout with 408 problem+json; the session still takes the part', async () => {
    const session = await call(`${api}/api/v2/uploads`, { method: 'POST', as: token, json: { name: 'stalled part.bin', size_bytes: MiB } });
    expect(session.status).toBe(201);
    const answer = await exchange(stalled(`/api/v2/uploads/${session.body.id}/parts/1`, 'application/octet-stream', 'abc'));
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    await expectAnswering();
    const part = await call(`${api}/api/v2/uploads/${session.body.id}/parts/1`, { method: 'PUT', as: token, body: bytesOf(MiB) });
    expect(part.status).toBe(200);
    expect((await call(`${api}/api/v2/uploads/${session.body.id}`, { method: 'DELETE', as: token })).status).toBe(204);
  });

  it('a tus PATCH that stalls is cut by the request timeout with 408 problem+json; the upload is still at offset 0', async () => {
    const created = await call(`${api}/api/v2/tus`, {
      method: 'POST',
      as: token,
      headers: { 'tus-resumable': '1.0.0', 'upload-length': String(MiB), 'upload-metadata': `filename ${Buffer.from('stalled.bin').toString('base64')}` },
    });
    expect(created.status).toBe(201);
    const path = created.headers.get('location')!;
    const answer = await exchange(
      stalled(path, 'application/offset+octet-stream', 'abc', 'Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n').replace(/^PUT/, 'PATCH'),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    await expectAnswering();
    const head = await fetch(`${api}${path}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, 'tus-resumable': '1.0.0' } });
    expect(head.headers.get('upload-offset')).toBe('0');
    expect((await call(`${api}${path}`, { method: 'DELETE', as: token, headers: { 'tus-resumable': '1.0.0' } })).status).toBe(204);
  });
});

// Not a body, but the same kind of hold: a client that never finishes its headers.
it('a request whose headers never end is cut too, and the API goes on answering', async () => {
  const answer = await exchange(`GET /api/v2/assets HTTP/1.1\r\nHost: x\r\nX-Slow: a`);
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  await expectAnswering();
});
