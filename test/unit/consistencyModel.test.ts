/**
 * The consistency checker's own logic (test/consistency/): a seed makes one schedule of operations and
 * faults, and the values a field may end with are exactly those a history allows.
 */
import { faultSchedule } from '../consistency/faults';
import { possibleLastValues } from '../consistency/model';
import { nextSpec } from '../consistency/operations';
import { rngOf } from '../consistency/rng';

const specs = (seed: number, client: number, n = 50) => {
  const rng = rngOf(seed, client);
  return Array.from({ length: n }, () => nextSpec(rng, 6));
};

it('replays the same schedule of operations and faults from the same seed, and another from another seed', () => {
  expect(specs(42, 3)).toEqual(specs(42, 3));
  expect(faultSchedule(42, 600_000)).toEqual(faultSchedule(42, 600_000));
  expect(specs(42, 3)).not.toEqual(specs(43, 3));
  expect(specs(42, 3)).not.toEqual(specs(42, 4));
  expect(faultSchedule(42, 600_000)).not.toEqual(faultSchedule(43, 600_000));
  expect(new Set(faultSchedule(42, 600_000).map((f) => f.kind))).toEqual(new Set(['killWorker', 'killApi', 's3Errors', 'pgTerminate', 'redisStop']));
});

const write = (value: string, start: number, end: number, certain = true) => ({ value, start, end, certain });

it('allows as last value only a write no known write followed', () => {
  expect(possibleLastValues([write('a', 0, 1), write('b', 2, 3)])).toEqual(new Set(['b']));
  expect(possibleLastValues([write('a', 0, 5), write('b', 2, 3)])).toEqual(new Set(['a', 'b']));
  // An unanswered write may have happened, at any time after it was sent.
  expect(possibleLastValues([write('a', 0, 1), write('b', 2, Infinity, false)])).toEqual(new Set(['a', 'b']));
  expect(possibleLastValues([write('a', 0, 1, false), write('b', 2, 3)])).toEqual(new Set(['b']));
});
