/**
 * The typed client of the Storage Service: openapi-fetch over the generated client/schema.d.ts,
 * with the caller's bearer token, an X-Request-Id per request (kept across its retries), an
 * Idempotency-Key per change (kept across its retries, so that the server carries it out once), retries
 * (client/retry.ts), and `unwrap` turning a problem+json answer into a StorageProblem.
 */
import createClient, { type Client } from 'openapi-fetch';
import { problemOf } from './problems';
import { retryingFetch, type RetryOptions } from './retry';
import type { paths } from './schema';

export type { paths, components, operations } from './schema';
export * from './problems';
export { retryingSend, type RetryOptions } from './retry';
export type StorageClient = Client<paths>;

export interface StorageClientOptions extends RetryOptions {
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
}

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
// tus's routes take no key (their offsets make a PATCH safe to repeat): sent one, the client would
// retry a creation after a dropped connection as if it were deduplicated, and leave a second upload.
const TAKES_NO_KEY = /^\/api\/v2\/tus(\/|$)/;

export function createStorageClient(opts: StorageClientOptions): StorageClient {
  const client = createClient<paths>({ baseUrl: opts.baseUrl.replace(/\/+$/, ''), fetch: retryingFetch(opts.fetch ?? globalThis.fetch, opts) });
  client.use({
    onRequest({ request, schemaPath }) {
      if (opts.token && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${opts.token}`);
      if (!request.headers.has('x-request-id')) request.headers.set('x-request-id', globalThis.crypto.randomUUID());
      // One per call, the logical operation: its retries send the same one.
      if (CHANGES.has(request.method) && !TAKES_NO_KEY.test(schemaPath) && !request.headers.has('idempotency-key')) {
        request.headers.set('idempotency-key', `"${globalThis.crypto.randomUUID()}"`);
      }
      return request;
    },
  });
  return client;
}

/** The data of a 2xx answer; anything else throws the StorageProblem of its status. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw problemOf(response, error);
  return data as T;
}

export { cancelOperation, followOperation, operationIdOf, type FollowOptions, type Operation } from './operations';
