/**
 * The admin views' one way of following a run (a backup, a restore, a lifecycle run, a scrub, a drill):
 * read it again until its status is final, a bounded number of times, and never after the view is gone.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { isFinal, pollUntil } from './poll';

export { isFinal } from './poll';

export interface FollowedRun<T> {
  data: T | undefined;
  error: unknown;
  /** The tries ran out before the status became final. */
  gaveUp: boolean;
}

/**
 * Reads the run `id` now and again until its status is final or the tries ran out; stops when the id
 * changes or the view unmounts. An error stops it too (shown, not retried forever). `onEnd` hears of
 * the final reading once, so that a list showing the run can be read again.
 */
export function useFollowedRun<T extends { status: string }>(load: (signal: AbortSignal) => Promise<T>, id: string, onEnd?: (run: T) => void): FollowedRun<T> {
  const [state, setState] = useState<FollowedRun<T>>({ data: undefined, error: undefined, gaveUp: false });
  const latest = useRef({ load, onEnd });
  latest.current = { load, onEnd };
  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setState((s) => ({ ...s, error: undefined, gaveUp: false }));
    pollUntil(
      (s) => latest.current.load(s),
      (run) => {
        const final = isFinal(run.status);
        if (final) latest.current.onEnd?.(run);
        return final;
      },
      signal,
      { onUpdate: (data, { gaveUp }) => setState({ data, error: undefined, gaveUp }) },
    ).catch((error: unknown) => signal.aborted || setState((s) => ({ ...s, error })));
    return () => controller.abort();
  }, [id]);
  return state;
}
