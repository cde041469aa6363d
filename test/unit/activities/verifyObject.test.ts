import { MockActivityEnvironment } from '@temporalio/testing';
import { CancelledFailure } from '@temporalio/common';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { ActivityDeps } from '../../../activities/deps';
import { createUploadActivities } from '../../../activities/uploads/uploads';
import { UploadFailure } from '../../../workflows/uploads/definitions';

const MiB = 1024 * 1024;
// The failures below are on purpose: the activity's own log of them would only be noise.
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Upload activities over an S3 whose GetObject streams `chunks` (the other deps are never reached). */
function activitiesReading(chunks: () => AsyncIterable<Buffer>) {
  const send = jest.fn(async (_command: unknown, opts?: { abortSignal?: AbortSignal }) => ({ Body: Readable.from(chunks(), { signal: opts?.abortSignal }) }));
  const deps = {
    config: { s3: { bucket: 'assets' }, audit: { enabled: false } },
    s3: { send },
    db: (() => {
      throw new Error('verifyObject reads no row');
    }) as never,
    logger: console,
  } as unknown as ActivityDeps;
  return { verifyObject: createUploadActivities(deps).verifyObject, send };
}

async function* repeated(chunk: Buffer, times: number) {
  for (let i = 0; i < times; i++) yield chunk;
}

describe('verifyObject in a mock activity context', () => {
  const chunk = Buffer.alloc(MiB, 7);
  const whole = createHash('sha256')
    .update(Buffer.concat(Array(20).fill(chunk)))
    .digest('hex');

  it('hashes the stored object, heartbeating the bytes read as it goes', async () => {
    const { verifyObject } = activitiesReading(() => repeated(chunk, 20));
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const beats: unknown[] = [];
    env.on('heartbeat', (d) => beats.push(d));
    const result = await env.run(verifyObject, { uploadId: 'u1', objectKey: 'k', expectedSizeBytes: 20 * MiB, expectedChecksumSha256: whole });
    expect(result).toEqual({ sizeBytes: 20 * MiB, checksumSha256: whole });
    expect(beats.length).toBeGreaterThan(0);
    expect(beats.at(-1)).toEqual({ bytesRead: expect.any(Number) });
  });

  it('a size or checksum other than declared fails for good with its failure type', async () => {
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    await expect(
      env.run(activitiesReading(() => repeated(chunk, 20)).verifyObject, { uploadId: 'u1', objectKey: 'k', expectedSizeBytes: 1 }),
    ).rejects.toMatchObject({
      type: UploadFailure.sizeMismatch,
      nonRetryable: true,
    });
    await expect(
      env.run(activitiesReading(() => repeated(chunk, 20)).verifyObject, { uploadId: 'u1', objectKey: 'k', expectedChecksumSha256: 'f'.repeat(64) }),
    ).rejects.toMatchObject({ type: UploadFailure.checksumMismatch, nonRetryable: true });
  });

  it('a cancellation stops the read: the request is given the activity’s abort signal', async () => {
    async function* endless() {
      for (;;) {
        yield chunk;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    const { verifyObject, send } = activitiesReading(endless);
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    env.once('heartbeat', () => env.cancel());
    const failure = await env.run(verifyObject, { uploadId: 'u1', objectKey: 'k' }).catch((err: unknown) => err);
    expect(send.mock.calls[0][1]?.abortSignal?.aborted).toBe(true);
    expect(failure instanceof CancelledFailure || (failure as Error).name === 'AbortError').toBe(true);
  });
});
