import { defaultGrpcRetryOptions, makeGrpcRetryInterceptor, type ConnectionOptions } from '@temporalio/client';

type GrpcInterceptor = NonNullable<ConnectionOptions['interceptors']>[number];

/** The longest the SDK's default backoff waits before a retry (5 s plus 20% jitter), and some slack. */
const LONGEST_RETRY_WAIT_MS = 6_500;

export interface StoppableRetries {
  interceptor: GrpcInterceptor;
  /** How many failed calls wait for their retry. */
  readonly waiting: number;
  /** Schedules no more retries and resolves once none is waiting: then the connection can close. */
  stop(): Promise<void>;
}

/** gRPC's status of a server that cannot be reached. */
const UNAVAILABLE = 14;

/**
 * The SDK's retry interceptor, made stoppable, and with `budgetMs` bounded in time for a server that
 * cannot be reached: no retry of an UNAVAILABLE is scheduled once that long has passed since the
 * call's first attempt (the SDK's own bound, 10 attempts backing off to 5 s, waits about 20 s). Other
 * statuses (an overloaded server's RESOURCE_EXHAUSTED) keep the SDK's bound.
 *
 * A retry waits in a timer and then makes a new call; on a connection closed meanwhile, that call
 * throws "Channel has been shut down" from the timer, where nothing catches it and the process (or a
 * jest file) fails. So a connection stops its retries and lets the waiting ones run before it closes.
 */
export function stoppableRetries(opts: { budgetMs?: number } = {}): StoppableRetries {
  const defaults = defaultGrpcRetryOptions();
  let stopping = false;
  let waiting = 0;
  const interceptor: GrpcInterceptor = (options, nextCall) => {
    let scheduled = 0;
    const firstAttemptAt = Date.now();
    const withinBudget = (code: number) => opts.budgetMs === undefined || code !== UNAVAILABLE || Date.now() - firstAttemptAt < opts.budgetMs;
    const retrying = makeGrpcRetryInterceptor({
      delayFunction: defaults.delayFunction,
      retryableDecider: (attempt, status) => {
        const retry = !stopping && withinBudget(status.code) && defaults.retryableDecider(attempt, status);
        if (retry) {
          scheduled++;
          waiting++;
        }
        return retry;
      },
    });
    // The first call is made at once; every later one is a retry that was waiting.
    return retrying(options, (callOptions) => {
      if (scheduled > 0) {
        scheduled--;
        waiting--;
      }
      return nextCall(callOptions);
    });
  };
  return {
    interceptor,
    get waiting() {
      return waiting;
    },
    stop: async () => {
      stopping = true;
      const deadline = Date.now() + LONGEST_RETRY_WAIT_MS;
      while (waiting > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    },
  };
}
