import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PayloadTooLargeError } from './errors';

const MiB = 1024 * 1024;
// Memory per upload is bounded by these, whatever the file size.
const S3_PART_SIZE = 8 * MiB;
const S3_PARTS_IN_FLIGHT = 4;

/** Streams `source` to S3 at `key`, hashing and counting; fails (and writes nothing) past `maxSize`. */
export async function stageToS3(
  s3: S3Client,
  bucket: string,
  key: string,
  source: Readable,
  maxSize: number,
  countBytes: (n: number) => void = () => {},
): Promise<{ sizeBytes: number; checksumSha256: string }> {
  const meter = createMeter(maxSize, countBytes);
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: meter.stream },
    partSize: S3_PART_SIZE,
    queueSize: S3_PARTS_IN_FLIGHT,
    leavePartsOnError: false,
  });
  try {
    await Promise.all([pipeline(source, meter.stream), upload.done()]);
  } catch (err) {
    await upload.abort().catch(() => {});
    throw err;
  }
  return meter.result();
}

/**
 * A pass-through that hashes (SHA-256) and counts what flows through it, and fails past `maxSize`:
 * every byte the API receives goes through one, on its way to S3.
 */
export function createMeter(maxSize = Infinity, countBytes: (n: number) => void = () => {}) {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxSize) {
        done(new PayloadTooLargeError(`the file is larger than the limit of ${maxSize} bytes`));
        return;
      }
      hash.update(chunk);
      countBytes(chunk.length);
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ sizeBytes, checksumSha256: hash.digest('hex') }) };
}
