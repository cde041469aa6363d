/**
 * Simple uploads one API process has taken and not answered yet: their body streaming, their run
 * waiting for a worker, their outcome waited for. Past the bound a new one is refused before its
 * body is read (nothing staged, nothing reserved): taking more than the workers finish in time only
 * makes every one of them wait, and the last ones give up after their bytes were sent. Counted in
 * memory as the streams are (lib/limits/uploadStreams.ts): a process that dies holds nothing, and
 * every replica bounds its own.
 */
import { createUploadStreams } from './uploadStreams';

export interface PendingUploads {
  /** A slot for one upload, with what gives it back (once, however often called); or undefined past the bound. */
  take(): { release: () => void } | undefined;
}

// The bound is the process's, whoever sends: one caller for the stream limits' per-caller count.
const EVERY_CALLER = 'simple uploads';

export function createPendingUploads(max: number): PendingUploads {
  const slots = createUploadStreams({ perCaller: max, total: max });
  return {
    take: () => {
      const slot = slots.take(EVERY_CALLER);
      return 'refused' in slot ? undefined : slot;
    },
  };
}

const bounds = new Map<string, WeakMap<object, PendingUploads>>();

/**
 * At most `max` of one kind of work (`kind`) in flight at once for `owner` (an app's workflow access,
 * a database pool), counted in memory: made on first use.
 */
export function inFlightBoundOf(kind: string, owner: object, max: number): PendingUploads {
  let ofKind = bounds.get(kind);
  if (!ofKind) bounds.set(kind, (ofKind = new WeakMap()));
  let pending = ofKind.get(owner);
  if (!pending) ofKind.set(owner, (pending = createPendingUploads(max)));
  return pending;
}

/** The bound of the API that `owner` belongs to (its workflow access, made once per app), made on first use. */
export function pendingUploadsOf(owner: object, max: number): PendingUploads {
  return inFlightBoundOf(EVERY_CALLER, owner, max);
}
