import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import { bearer } from './auth';
import { checkAgainstReference } from './openapiCheck';

/** A parsed JSON answer; `body` is `any` because each test asserts its shape itself. */
export interface JsonAnswer {
  status: number;
  headers: Headers;

  body: any;
}

/**
 * One request, as the suite's admin unless `as` gives another token (or null: none at all), with a
 * JSON body when `json` is given.
 */
export async function call(url: string, init: RequestInit & { json?: unknown; as?: string | null } = {}): Promise<JsonAnswer> {
  const { json, as, ...rest } = init;
  const res = await fetch(url, {
    ...rest,
    headers: {
      ...(as === null ? {} : await bearer(as)),
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      ...(rest.headers as Record<string, string> | undefined),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await res.text();
  let body: unknown = text;
  const contentType = res.headers.get('content-type') ?? '';
  if (/json/.test(contentType) && text) body = JSON.parse(text);
  checkAgainstReference(rest.method ?? 'GET', url, res.status, res.headers, /json/.test(contentType) && text ? body : undefined);
  return { status: res.status, headers: res.headers, body };
}

/** An RFC 9457 problem with the given status, as the contract describes it. */
export function expectProblem(res: JsonAnswer, status: number): void {
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: expect.stringMatching(/^application\/problem\+json/) });
  expect(res.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), errors: expect.any(Array) });
}

/** A request whose body the test writes piece by piece, its length declared up front; or leaves. */
export function inPieces(target: string, method: string, headers: Record<string, string>) {
  const req: ClientRequest = request(target, { method, headers });
  const answer = new Promise<JsonAnswer>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const type = String(res.headers['content-type'] ?? '');
        resolve({
          status: res.statusCode ?? 0,
          headers: new Headers(res.headers as Record<string, string>),
          body: /json/.test(type) && text ? JSON.parse(text) : text,
        });
      });
    });
    req.on('error', reject);
  });
  answer.catch(() => {});
  return {
    answer,
    write: (piece: Buffer) => new Promise<void>((resolve, reject) => req.write(piece, (err) => (err ? reject(err) : resolve()))),
    end: (piece: Buffer) => {
      req.end(piece);
      return answer;
    },
    leave: () => req.destroy(),
  };
}
