/**
 * The benchmark's HTTP client: plain node:http with keep-alive agents, bodies written from memory
 * and answers counted, not kept, so the client adds as little as it can to what is measured.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';

export interface Answer {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Written in order; a Buffer is sent as is (no copy). */
  body?: Buffer[];
  agent?: http.Agent;
  timeoutMs?: number;
}

let authorization: string | undefined;
/** The bearer token every request of this process sends from now on. */
export function useToken(token: string): void {
  authorization = `Bearer ${token}`;
}

/** The headers that carry it, for a client of another library (autocannon). */
export function authHeaders(): Record<string, string> {
  return authorization ? { authorization } : {};
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** One request; the answer's body is kept (use for small JSON answers). */
export function request(url: string, opts: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const length = (opts.body ?? []).reduce((n, b) => n + b.length, 0);
    const headers: Record<string, string | number> = { ...authHeaders(), ...opts.headers };
    if (opts.body) headers['content-length'] = length;
    const req = http.request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 600_000, () => req.destroy(new Error(`${opts.method ?? 'GET'} ${url}: no answer within ${opts.timeoutMs ?? 600_000} ms`)));
    for (const chunk of opts.body ?? []) req.write(chunk);
    req.end();
  });
}

/** A JSON answer with the expected status, or an error naming what came instead. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON answer, whose shape each caller asserts
export async function expectJson<T = any>(answer: Answer | Promise<Answer>, status: number, what: string): Promise<T> {
  const a = await answer;
  const text = a.body.toString('utf8');
  if (a.status !== status) throw new Error(`${what}: expected ${status}, got ${a.status}: ${text.slice(0, 500)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/**
 * GETs `url` and counts the body's bytes without keeping them. `followRedirect`: a 307 is followed
 * once, without the bearer token, which fetch too drops on a redirect to another origin.
 */
export async function downloadCount(url: string, agent: http.Agent, opts: { followRedirect?: boolean } = {}): Promise<{ status: number; bytes: number }> {
  const answer = await countedGet(url, agent, authHeaders());
  return opts.followRedirect && answer.status === 307 && answer.location ? countedGet(answer.location, agent, {}) : answer;
}

function countedGet(url: string, agent: http.Agent, headers: Record<string, string>): Promise<{ status: number; bytes: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, async (res) => {
      let bytes = 0;
      try {
        for await (const chunk of res) bytes += (chunk as Buffer).length;
        resolve({ status: res.statusCode ?? 0, bytes, location: res.headers.location });
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
    req.setTimeout(600_000, () => req.destroy(new Error(`GET ${url}: stalled`)));
  });
}

/** A multipart/form-data body around `file`: the framing is built once, the file itself not copied. */
export interface MultipartBody {
  contentType: string;
  parts: Buffer[];
  length: number;
}

export function multipartBody(file: Buffer, fields: Record<string, string>, filename = 'bench.bin', fileType = 'application/octet-stream'): MultipartBody {
  const boundary = `----bench${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(fields)) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${fileType}\r\n\r\n`;
  const parts = [Buffer.from(head, 'utf8'), file, Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8')];
  return { contentType: `multipart/form-data; boundary=${boundary}`, parts, length: parts.reduce((n, b) => n + b.length, 0) };
}

/** POSTs a multipart body; resolves with the answer. */
export function postMultipart(url: string, body: MultipartBody, agent: http.Agent, timeoutMs?: number): Promise<Answer> {
  return request(url, { method: 'POST', headers: { 'content-type': body.contentType }, body: body.parts, agent, timeoutMs });
}

/** Runs `task(i)` for i in 0..count-1 with at most `concurrency` at a time; rejects on the first failure. */
export async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count && failed === undefined) {
      const i = next++;
      try {
        await task(i);
      } catch (err) {
        failed ??= err;
      }
    }
  });
  await Promise.all(lanes);
  if (failed !== undefined) throw failed;
}
