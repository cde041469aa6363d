/**
 * The admin views' one way of following a run (a backup, a restore, a lifecycle run, a scrub, a drill):
 * read it again until its status is final, a bounded number of times, and never after the view is gone.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

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

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  /** true while it is read again. */
  polling: boolean;
  /** The tries ran out before the status became final. */
  gaveUp: boolean;
  /** Reads it again from the start (after a change made here). */
  restart(): void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/**
 * Reads `load` now and again until `done` says its answer is final or `maxTries` readings were made;
 * stops when a key changes or the view unmounts. An error stops it too (shown, not retried forever).
 */
export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, done: (data: T) => boolean, keys: unknown[], opts: PollOptions = {}): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; polling: boolean; gaveUp: boolean }>({ polling: true, gaveUp: false });
  const [generation, setGeneration] = useState(0);
  const latest = useRef({ load, done });
  latest.current = { load, done };
  const intervalMs = opts.intervalMs ?? 1000;
  const maxTries = opts.maxTries ?? 300;
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setState((s) => ({ ...s, error: undefined, polling: true, gaveUp: false }));
    void (async () => {
      for (let tries = 1; !signal.aborted; tries++) {
        let data: T;
        try {
          data = await latest.current.load(signal);
        } catch (error) {
          if (!signal.aborted) setState((s) => ({ ...s, error, polling: false }));
          return;
        }
        if (signal.aborted) return;
        const final = latest.current.done(data);
        const gaveUp = !final && tries >= maxTries;
        setState({ data, polling: !final && !gaveUp, gaveUp });
        if (final || gaveUp) return;
        await sleep(intervalMs, signal);
      }
    })();
    return () => controller.abort();
  }, [...keys, generation, intervalMs, maxTries]);
  const restart = useCallback(() => setGeneration((g) => g + 1), []);
  return { data: state.data, error: state.error, polling: state.polling, gaveUp: state.gaveUp, restart };
}
