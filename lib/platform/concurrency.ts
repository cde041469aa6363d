/** Runs `work` over `items`, `width` at a time; answers the results in order. */
export async function mapLimit<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]);
      }
    }),
  );
  return results;
}

/**
 * Waits for `promise` at most `ms`: `{ value }`, or undefined when the time ran out first. A
 * rejection before then is thrown; one after it is left to whoever reads the outcome later.
 */
export async function waitAtMost<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  const settled = promise.then((value) => ({ value }));
  settled.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Tries `work` after each wait of `waitsMs` in turn (0: at once) until it succeeds, so its retries are
 * bounded in attempts and in time; rejects with the last failure. The waits hold no process open.
 */
export async function tryAfterWaits<T>(waitsMs: readonly number[], work: () => Promise<T>): Promise<T> {
  let failure: unknown = new Error('no attempt was made');
  for (const waitMs of waitsMs) {
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
    try {
      return await work();
    } catch (err) {
      failure = err;
    }
  }
  throw failure;
}
