/**
 * The admin views' one way of following a run (a backup, a restore, a lifecycle run, a scrub, a drill):
 * read it again until its status is final, a bounded number of times, and never after the view is gone.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { pollUntil, type PollOptions } from './poll';

export { isFinal, type PollOptions } from './poll';

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

/**
 * Reads `load` now and again until `done` says its answer is final or `maxTries` readings were made;
 * stops when a key changes or the view unmounts. An error stops it too (shown, not retried forever).
 */
export function usePolled<T>(load: (signal: AbortSignal) => Promise<T>, done: (data: T) => boolean, keys: unknown[], opts: PollOptions = {}): Polled<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; polling: boolean; gaveUp: boolean }>({ polling: true, gaveUp: false });
  const [generation, setGeneration] = useState(0);
  const latest = useRef({ load, done });
  latest.current = { load, done };
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setState((s) => ({ ...s, error: undefined, polling: true, gaveUp: false }));
    pollUntil(
      (s) => latest.current.load(s),
      (data) => latest.current.done(data),
      signal,
      { ...opts, onUpdate: (data, { final, gaveUp }) => setState({ data, polling: !final && !gaveUp, gaveUp }) },
    ).catch((error: unknown) => signal.aborted || setState((s) => ({ ...s, error, polling: false })));
    return () => controller.abort();
  }, [...keys, generation, opts.intervalMs, opts.maxTries]);
  const restart = useCallback(() => setGeneration((g) => g + 1), []);
  return { data: state.data, error: state.error, polling: state.polling, gaveUp: state.gaveUp, restart };
}
