/**
 * The fetch the client sends through: a 429 or 503 is tried again after the server's Retry-After
 * (seconds or an HTTP date), or else after an exponential backoff with jitter. A request that carries
 * an Idempotency-Key (every change the typed client sends) is also tried again after a 500, 502 or
 * 504, a 409 that says when to retry (the first attempt still runs), and a connection that failed or
 * dropped before the answer came: the server carries the operation out once, whatever the attempts.
 */
export interface RetryOptions {
  /** Further attempts after the first (default 5). */
  retries?: number;
  /** The first backoff without a Retry-After, doubled per attempt (default 250 ms). */
  baseDelayMs?: number;
  /** No wait is longer (default 30 s). */
  maxDelayMs?: number;
  /** Called before each wait: a CLI says why it pauses. */
  /** `status` 0: the connection failed or dropped before an answer. */
  onRetry?: (info: { status: number; attempt: number; delayMs: number; url: string }) => void;
}

const RETRIED = new Set([429, 503]);
// Repeated safely only under an Idempotency-Key: the server may have carried out the first attempt.
const RETRIED_WITH_KEY = new Set([...RETRIED, 500, 502, 504]);

/** Whether the answer (undefined: none came) is worth another attempt of `request`. */
function worthRetrying(request: Request, response: Response | undefined): boolean {
  const keyed = request.headers.has('idempotency-key');
  if (!response) return keyed && !request.signal.aborted;
  if (RETRIED.has(response.status)) return true;
  if (!keyed) return false;
  return RETRIED_WITH_KEY.has(response.status) || (response.status === 409 && response.headers.has('retry-after'));
}

export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Sends the request `requestFor` builds for each attempt, trying again as above. A request whose
 * body can be built again (a form over a file) is built anew per attempt, never kept in memory.
 */
export function retryingSend(base: typeof fetch, opts: RetryOptions = {}): (requestFor: (last: boolean) => Request) => Promise<Response> {
  const retries = opts.retries ?? 5;
  const baseDelay = opts.baseDelayMs ?? 250;
  const maxDelay = opts.maxDelayMs ?? 30_000;
  return async (requestFor) => {
    for (let attempt = 1; ; attempt++) {
      const request = requestFor(attempt > retries);
      let response: Response | undefined;
      try {
        response = await base(request);
      } catch (err) {
        if (attempt > retries || !worthRetrying(request, undefined)) throw err;
      }
      if (response && (attempt > retries || !worthRetrying(request, response))) return response;
      const backoff = baseDelay * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const delayMs = Math.min(maxDelay, retryAfterMs(response?.headers.get('retry-after') ?? null) ?? backoff);
      await response?.body?.cancel();
      opts.onRetry?.({ status: response?.status ?? 0, attempt, delayMs, url: request.url });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  };
}

export function retryingFetch(base: typeof fetch, opts: RetryOptions = {}): (request: Request) => Promise<Response> {
  const send = retryingSend(base, opts);
  // A body can be read once: each attempt but the last sends a copy (which holds the body until it is sent).
  return (request) => send((last) => (last ? request : request.clone()));
}
