/**
 * Following an operation (issue 27; AIP-151): every asynchronous start answers 202 with Location, the
 * operation, and Retry-After. `followOperation` reads it (GET /api/v2/operations/{id}), waiting what
 * each answer's Retry-After says, until it is done; `cancelOperation` asks it to stop.
 */
import type { Client } from 'openapi-fetch';
import { problemOf } from './problems';
import type { paths } from './schema';

// client/index.ts's StorageClient, named here from its parts: index re-exports this file.
type StorageClient = Client<paths>;

export type Operation = paths['/api/v2/operations/{id}']['get']['responses'][200]['content']['application/json'];

export interface FollowOptions {
  /** Told every reading of the operation, the last (done) one too. */
  onUpdate?: (operation: Operation) => void;
  /** Stops following (the operation goes on): the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Wait between readings when an answer carries no Retry-After (default 1000 ms). */
  defaultDelayMs?: number;
  /** The longest wait between readings, whatever Retry-After says (default 10 s). */
  maxDelayMs?: number;
}

/** The operation's id from its Location (`/api/v2/operations/{id}`, absolute or not), its operation_url, or the id itself. */
export function operationIdOf(location: string): string {
  const path = location.split('?')[0].replace(/\/+$/, '');
  const id = path.slice(path.lastIndexOf('/') + 1);
  return decodeURIComponent(id);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Reads the operation at `location` until it is done, honouring Retry-After; answers it (succeeded, failed or cancelled). */
export async function followOperation(client: StorageClient, location: string, opts: FollowOptions = {}): Promise<Operation> {
  const id = operationIdOf(location);
  for (;;) {
    const { data, error, response } = await client.GET('/api/v2/operations/{id}', { params: { path: { id } }, signal: opts.signal });
    if (!response.ok || !data) throw problemOf(response, error);
    opts.onUpdate?.(data);
    if (data.done) return data;
    const retryAfter = Number(response.headers.get('retry-after') ?? NaN);
    const ms = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : (opts.defaultDelayMs ?? 1000);
    await delay(Math.min(ms, opts.maxDelayMs ?? 10_000), opts.signal);
  }
}

/** Asks the operation at `location` to stop (POST /operations/{id}:cancel); answers it as the server then reads it. */
export async function cancelOperation(client: StorageClient, location: string): Promise<Operation> {
  const id = operationIdOf(location);
  const { data, error, response } = await client.POST('/api/v2/operations/{id}:cancel', { params: { path: { id } } });
  if (!response.ok || !data) throw problemOf(response, error);
  return data;
}
