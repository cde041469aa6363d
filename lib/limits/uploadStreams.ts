/**
 * How many request bodies stream into one API process at once: per caller, and in all. Each stream
 * holds a socket, a store request and (a tus PATCH) a database connection of its own for as long as
 * its client takes to send it, so a few slow clients could otherwise hold them all. Counted in
 * memory: a process that dies holds nothing, and every replica bounds its own.
 */
import type { UploadStreamLimits } from '../platform/config';

export type StreamsRefusal = 'caller' | 'api';

export interface UploadStreams {
  /** A slot for one stream of `caller`, with what gives it back (once, however often called); or why there is none. */
  take(caller: string): { release: () => void } | { refused: StreamsRefusal };
}

export function createUploadStreams(limits: UploadStreamLimits): UploadStreams {
  const held = new Map<string, number>();
  let total = 0;
  return {
    take(caller) {
      if (total >= limits.total) return { refused: 'api' };
      const mine = held.get(caller) ?? 0;
      if (mine >= limits.perCaller) return { refused: 'caller' };
      held.set(caller, mine + 1);
      total++;
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          total--;
          const left = held.get(caller)! - 1;
          if (left === 0) held.delete(caller);
          else held.set(caller, left);
        },
      };
    },
  };
}
