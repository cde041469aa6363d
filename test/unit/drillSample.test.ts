/** The restore drill's sample (lib/drills/sample.ts): uniform over the assets offered, bounded in count and bytes. */
import { Reservoir, withinBudget } from '../../lib/drills/sample';
import type { DrillSampleEntry } from '../../lib/drills/store';
import { mulberry32 } from '../support/mulberry32';

const entry = (i: number, bytes = 10): DrillSampleEntry => ({ asset_id: `a${i}`, start: i * 100, end: i * 100 + 50, bytes });

it('keeps every item while there are fewer than its size, and never more than its size', () => {
  const few = new Reservoir<number>(5);
  [1, 2, 3].forEach((n) => few.offer(n));
  expect(few.kept).toEqual([1, 2, 3]);
  const many = new Reservoir<number>(5, mulberry32(7));
  for (let n = 0; n < 10_000; n++) many.offer(n);
  expect(many.kept).toHaveLength(5);
  expect(new Set(many.kept).size).toBe(5);
});

it('samples uniformly: each of 10 items is kept about 3 times in 10 by a reservoir of 3', () => {
  const random = mulberry32(42);
  const counts = new Array(10).fill(0);
  const runs = 20_000;
  for (let r = 0; r < runs; r++) {
    const reservoir = new Reservoir<number>(3, random);
    for (let n = 0; n < 10; n++) reservoir.offer(n);
    for (const n of reservoir.kept) counts[n] += 1;
  }
  for (const c of counts) expect(Math.abs(c / runs - 0.3)).toBeLessThan(0.02);
});

it('takes what fits the byte budget (the first always), in manifest order', () => {
  const entries = [entry(3, 600), entry(1, 300), entry(2, 300)];
  const taken = withinBudget(entries, 700, mulberry32(1));
  expect(taken.reduce((n, e) => n + e.bytes, 0)).toBeLessThanOrEqual(700);
  expect(taken.map((e) => e.start)).toEqual([...taken.map((e) => e.start)].sort((a, b) => a - b));
  expect(withinBudget([entry(1, 5000)], 10)).toEqual([entry(1, 5000)]);
  expect(withinBudget([], 10)).toEqual([]);
});
