/**
 * The harness's only source of chance: mulberry32, seeded. Each client and the fault schedule draw from
 * a stream of their own (derived from the run's seed and the stream's index), so the schedule a seed
 * makes does not depend on how the streams interleave in time.
 */
import { mulberry32 } from '../support/mulberry32';

export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One of `items`, each as likely as its weight. */
  weighted<T extends string>(weights: Record<T, number>): T;
}

export function rngOf(seed: number, stream: number): Rng {
  // A stream's seed mixes the run's seed with the stream's index (a 32-bit hash step): nearby streams differ.
  const next = mulberry32(Math.imul(seed ^ Math.imul(stream + 1, 0x9e3779b1), 0x85ebca6b) ^ stream);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    chance: (p) => next() < p,
    weighted: <T extends string>(weights: Record<T, number>): T => {
      const entries = Object.entries(weights) as Array<[T, number]>;
      let roll = next() * entries.reduce((sum, [, w]) => sum + w, 0);
      for (const [item, weight] of entries) {
        roll -= weight;
        if (roll < 0) return item;
      }
      return entries[entries.length - 1][0];
    },
  };
}

/** A seed for a run that was given none. */
export function freshSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
