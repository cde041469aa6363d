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
  if (/json/.test(contentType) && text) {
    body = JSON.parse(text);
    checkAgainstReference(rest.method ?? 'GET', url, res.status, contentType, body);
  }
  return { status: res.status, headers: res.headers, body };
}

/** An RFC 9457 problem with the given status, as the contract describes it. */
export function expectProblem(res: JsonAnswer, status: number): void {
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: expect.stringMatching(/^application\/problem\+json/) });
  expect(res.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), errors: expect.any(Array) });
}
