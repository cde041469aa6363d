/** The scrub's pure parts: the merge of a page of the bucket with the catalog's versions, the byte budget, the blobs' share. */
import { compareKeys, mergePage, type ListedObject } from '../../lib/scrub/merge';
import { TokenBucket, type Clock } from '../../lib/scrub/tokenBucket';
import { inShare } from '../../activities/scrub/blobs';

const obj = (key: string): ListedObject => ({ key, lastModified: new Date(0), sizeBytes: 1 });
const ver = (object_key: string, id = object_key) => ({ object_key, id });

describe('mergePage', () => {
  it('sorts objects without a row, rows without an object, and pairs, over one page', () => {
    const m = mergePage([obj('a'), obj('b'), obj('d')], false, [ver('b'), ver('c'), ver('d')], 10);
    expect(m.unowned.map((o) => o.key)).toEqual(['a']);
    expect(m.missing.map((v) => v.object_key)).toEqual(['c']);
    expect(m.present.map((p) => p.version.object_key)).toEqual(['b', 'd']);
    expect(m.upTo).toBe('d');
  });

  it('a full page of versions ends the page at its last key; listed keys past it wait', () => {
    const m = mergePage([obj('a'), obj('z')], false, [ver('b'), ver('c')], 2);
    expect(m.upTo).toBe('c');
    expect(m.unowned.map((o) => o.key)).toEqual(['a']);
    expect(m.missing.map((v) => v.object_key)).toEqual(['b', 'c']);
  });

  it('once the listing ended, every version after the cursor is read; an empty page covers nothing', () => {
    const m = mergePage([obj('a')], true, [ver('a'), ver('q')], 10);
    expect(m.missing.map((v) => v.object_key)).toEqual(['q']);
    expect(m.upTo).toBe('q');
    expect(mergePage([], true, [], 10).upTo).toBeNull();
  });

  it('several versions naming one key are all present', () => {
    const m = mergePage([obj('k')], true, [ver('k', '1'), ver('k', '2')], 10);
    expect(m.present.map((p) => p.version.id)).toEqual(['1', '2']);
  });

  it('compares in byte order, as S3 lists and COLLATE "C" sorts (not locale order)', () => {
    expect(compareKeys('B', 'a')).toBeLessThan(0);
    expect(compareKeys('a/b', 'a-b')).toBeGreaterThan(0);
    expect(['é', 'z', 'Z'].sort(compareKeys)).toEqual(['Z', 'z', 'é']);
  });
});

describe('TokenBucket', () => {
  function fakeClock(): Clock & { slept: number[] } {
    let now = 0;
    const slept: number[] = [];
    return {
      slept,
      now: () => now,
      sleep: async (ms) => {
        slept.push(ms);
        now += ms;
      },
    };
  }

  it('lets a second of bytes through at once, then paces them at the rate', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1000, clock);
    await bucket.take(1000);
    expect(clock.slept).toEqual([]);
    await bucket.take(500);
    expect(clock.now()).toBe(500);
    for (let i = 0; i < 10; i++) await bucket.take(100);
    expect(clock.now()).toBe(1500);
  });

  it('a take over a second of bytes waits for a full bucket and is paid for after', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1000, clock);
    await bucket.take(3000);
    await bucket.take(1000);
    // 3000 + 1000 bytes at 1000/s, the first second's worth free: 3 s.
    expect(clock.now()).toBe(3000);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow();
  });
});

describe('inShare', () => {
  const addresses = Array.from({ length: 400 }, (_, i) => (i * 0x00a3d70a).toString(16).padStart(8, '0') + '0'.repeat(56));

  it('takes every blob at 100 %, about the share otherwise', () => {
    expect(addresses.every((a) => inShare(a, 100, 37))).toBe(true);
    const taken = addresses.filter((a) => inShare(a, 25, 0)).length;
    expect(taken).toBeGreaterThan(80);
    expect(taken).toBeLessThan(120);
  });

  it('reads every blob within ceil(100 / share) runs, the rotation moving by the share', () => {
    const seen = new Set<string>();
    for (let run = 0; run < 4; run++) for (const a of addresses) if (inShare(a, 25, (run * 25) % 100)) seen.add(a);
    expect(seen.size).toBe(addresses.length);
  });
});
