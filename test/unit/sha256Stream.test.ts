import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, multipartEtag, partHashTap, saveState, sha256From } from '../../lib/uploads/sha256Stream';

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Streams `part` through a tap that goes on from `state`: answers the state after it and the part's ETag. */
async function hashPart(state: Buffer | null, part: Buffer): Promise<{ state: Buffer; etag: string }> {
  const hasher = await sha256From(state);
  const tap = partHashTap(hasher);
  await pipeline(Readable.from([part.subarray(0, 7), part.subarray(7)]), tap.stream, new Writable({ write: (_c, _e, done) => done() }));
  return { state: saveState(hasher), etag: tap.etag() };
}

describe('resumable SHA-256 of parts (lib/uploads/sha256Stream.ts)', () => {
  const parts = [bytes(1000, 1), bytes(333, 2), bytes(0, 3), bytes(4097, 4)];
  const whole = Buffer.concat(parts);

  it('parts hashed one after another, each from the state saved after the last, equal the one-shot hash', async () => {
    let state: Buffer | null = null;
    for (const part of parts) state = (await hashPart(state, part)).state;
    expect(await digestOf(state!)).toBe(sha256(whole));
  });

  it('a saved state is a small buffer that loads into a new hasher (another process goes on from it)', async () => {
    const { state } = await hashPart(null, parts[0]);
    expect(state.length).toBeLessThan(200);
    const copy = Buffer.from(state);
    const next = await hashPart(copy, parts[1]);
    expect(await digestOf(next.state)).toBe(sha256(Buffer.concat(parts.slice(0, 2))));
  });

  it('no bytes: the empty string’s hash', async () => {
    expect(await digestOf(saveState(await sha256From(null)))).toBe(sha256(Buffer.alloc(0)));
  });

  it('each part’s ETag is the quoted MD5 of its bytes', async () => {
    expect((await hashPart(null, parts[0])).etag).toBe(`"${md5(parts[0])}"`);
  });

  it('the multipart ETag is the MD5 of the parts’ MD5s, then -N, and depends on their order', () => {
    const etags = parts.map((p) => `"${md5(p)}"`);
    const expected = createHash('md5')
      .update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest())))
      .digest('hex');
    expect(multipartEtag(etags)).toBe(`"${expected}-4"`);
    expect(multipartEtag([...etags].reverse())).not.toBe(multipartEtag(etags));
  });
});
