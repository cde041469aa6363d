/**
 * Following a run without a framework: read it, and again after `intervalMs`, until `done` says it is
 * final, `maxTries` readings were made, or the signal aborts (the view is gone). usePolled (polling.ts)
 * is this inside a view; it is here apart so that it can be tested without a page.
 */

/** Statuses after which a run never changes again. */
const FINAL = new Set(['completed', 'failed', 'passed', 'cancelled']);

export function isFinal(status: string | undefined): boolean {
  return status !== undefined && FINAL.has(status);
}

export interface PollOptions {
  /** Between readings (default 1 s). */
  intervalMs?: number;
  /** Readings at most (default 300): a run that outlasts them is left to a reload. */
  maxTries?: number;
}

/** How a poll ended: final, out of tries (the last reading is the answer), or stopped by the signal. */
export type PollEnd<T> = { end: 'final' | 'gave-up'; data: T; tries: number } | { end: 'aborted'; tries: number };

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** Reads `load` until final, out of tries, or aborted; each reading goes to `onUpdate`. A failed read rejects. */
export async function pollUntil<T>(
  load: (signal: AbortSignal) => Promise<T>,
  done: (data: T) => boolean,
  signal: AbortSignal,
  opts: PollOptions & { onUpdate?: (data: T, state: { final: boolean; gaveUp: boolean }) => void } = {},
): Promise<PollEnd<T>> {
  const intervalMs = opts.intervalMs ?? 1000;
  const maxTries = opts.maxTries ?? 300;
  let tries = 0;
  while (!signal.aborted) {
    const data = await load(signal);
    tries++;
    if (signal.aborted) break;
    const final = done(data);
    const gaveUp = !final && tries >= maxTries;
    opts.onUpdate?.(data, { final, gaveUp });
    if (final || gaveUp) return { end: final ? 'final' : 'gave-up', data, tries };
    await sleep(intervalMs, signal);
  }
  return { end: 'aborted', tries };
}
