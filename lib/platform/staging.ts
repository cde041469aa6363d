import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PayloadTooLargeError } from './errors';
import { abortMultipartUpload } from './multipart';

const MiB = 1024 * 1024;
// Memory per upload is bounded by these, whatever the file size. S3's smallest part keeps the API's
// peak memory low (BENCHMARKS.md, row 6); larger limits get larger parts (S3 allows 10,000).
export const S3_PART_SIZE = 5 * MiB;
export const S3_PARTS_IN_FLIGHT = 4;
const S3_MAX_PARTS = 10_000;

/** The part size that fits `maxSize` in S3's 10,000 parts: S3_PART_SIZE, or whole MiB above it. */
export function stagingPartSize(maxSize: number): number {
  if (!Number.isFinite(maxSize)) return S3_PART_SIZE;
  return Math.max(S3_PART_SIZE, Math.ceil(maxSize / S3_MAX_PARTS / MiB) * MiB);
}

export interface StagedObject {
  sizeBytes: number;
  /** Hex SHA-256 of every byte staged. */
  checksumSha256: string;
  /**
   * The SHA-256 checksum S3 reports for the object (HeadObject with ChecksumMode): base64, and for a
   * multipart object the composite `<base64 of the hash of the part hashes>-<parts>`. The store
   * checked each part against it on receipt, so a matching report means the store holds exactly the
   * bytes hashed into `checksumSha256`.
   */
  s3ChecksumSha256: string;
}

/**
 * Room asked for as a stream grows (a quota, lib/quotas/reservations.ts): `cover` before bytes are
 * stored, and whenever they no longer `fit` the room last granted; it throws when they may not be.
 */
export interface ByteReservation {
  fits(totalBytes: number): boolean;
  cover(totalBytes: number): Promise<void>;
}

/**
 * Streams `source` to S3 at `key`, hashing and counting; fails (and writes nothing) past `maxSize`,
 * or once `reservation` refuses the bytes so far.
 */
export async function stageToS3(
  s3: S3Client,
  bucket: string,
  key: string,
  source: Readable,
  maxSize: number,
  opts: { countBytes?: (n: number) => void; contentType?: string; reservation?: ByteReservation; onAbortFailure?: (err: unknown) => void } = {},
): Promise<StagedObject> {
  const meter = createMeter(maxSize, opts.countBytes, opts.reservation);
  const writer = new ObjectWriter(s3, bucket, key, stagingPartSize(maxSize), opts.contentType, opts.reservation);
  let s3ChecksumSha256 = '';
  try {
    await pipeline(source, meter.stream, async (metered: AsyncIterable<Buffer>) => {
      for await (const chunk of metered) await writer.write(chunk);
      s3ChecksumSha256 = await writer.finish();
    });
  } catch (err) {
    await abortWithRetries(writer, opts.onAbortFailure);
    throw err;
  }
  return { ...meter.result(), s3ChecksumSha256 };
}

const ABORT_ATTEMPTS = 3;

/**
 * Aborts what the writer began, a few times over: the request's own failure is what its caller
 * answers, so an abort that still fails is only reported. The multipart upload it leaves is found
 * by its key when its session ends (lib/uploads/sessionBytes.ts), or else by the lifecycle run's
 * sweep of incomplete uploads (lib/uploads/incompleteUploads.ts).
 */
async function abortWithRetries(writer: ObjectWriter, onAbortFailure: (err: unknown) => void = reportAbortFailure): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await writer.abort();
    } catch (err) {
      if (attempt >= ABORT_ATTEMPTS) return onAbortFailure(err);
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}

function reportAbortFailure(err: unknown): void {
  process.emitWarning(`a staged multipart upload could not be aborted: ${(err as Error)?.message ?? String(err)}`, 'StagingAbortFailed');
}

/** The bytes of a body do not hash to the SHA-256 declared for them (createMeter's verifyBeforeEnd). */
export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`the bytes hash to ${actual}, ${expected} was declared`);
    this.name = 'DigestMismatchError';
  }
}

/**
 * A pass-through that hashes (SHA-256) and counts what flows through it, and fails past `maxSize`:
 * every byte the API receives goes through one, on its way to S3. Told a body's declared SHA-256
 * (`verifyBeforeEnd`, before the first byte), it holds each chunk back until the next one comes, and
 * passes the last only once the whole body hashes to it: a body that does not never reaches its end
 * downstream (DigestMismatchError), so a store, whether or not it checks checksums itself, never
 * holds all the bytes of a request whose Content-Length it was told, and keeps none of them.
 */
export function createMeter(maxSize = Infinity, countBytes: (n: number) => void = () => {}, reservation?: ByteReservation) {
  const hash = createHash('sha256');
  let digest: string | undefined;
  const digestHex = () => (digest ??= hash.digest('hex'));
  let sizeBytes = 0;
  let expected: string | undefined;
  let held: Buffer | undefined;
  const pass = (chunk: Buffer, done: (err: Error | null, chunk?: Buffer) => void) => {
    if (expected === undefined) return done(null, chunk);
    const previous = held;
    held = chunk;
    done(null, previous);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sizeBytes += chunk.length;
      if (sizeBytes > maxSize) {
        done(new PayloadTooLargeError(`the file is larger than the limit of ${maxSize} bytes`));
        return;
      }
      hash.update(chunk);
      countBytes(chunk.length);
      if (!reservation || reservation.fits(sizeBytes)) {
        pass(chunk, done);
        return;
      }
      reservation.cover(sizeBytes).then(() => pass(chunk, done), done);
    },
    flush(done) {
      if (expected !== undefined && digestHex() !== expected) {
        done(new DigestMismatchError(expected, digestHex()));
        return;
      }
      if (held) this.push(held);
      held = undefined;
      done();
    },
  });
  return {
    stream,
    result: () => ({ sizeBytes, checksumSha256: digestHex() }),
    verifyBeforeEnd: (sha256Hex: string) => {
      expected = sha256Hex;
    },
  };
}

// Part buffers are reused across uploads: a new buffer per part was a quarter of the API's CPU
// in garbage collection and the largest share of its peak memory (BENCHMARKS.md, rows 2 and 6).
const idleBuffers: Buffer[] = [];
const MAX_IDLE_BUFFERS = S3_PARTS_IN_FLIGHT + 1;

function takeBuffer(size: number): Buffer {
  return (size === S3_PART_SIZE && idleBuffers.pop()) || Buffer.allocUnsafeSlow(size);
}

function giveBuffer(buffer: Buffer): void {
  if (buffer.length === S3_PART_SIZE && idleBuffers.length < MAX_IDLE_BUFFERS) idleBuffers.push(buffer);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest();

/**
 * Writes one object as its bytes arrive: a single PutObject when they fit in one part, otherwise a
 * multipart upload of parts of `partSize`, 4 in flight. Every request carries the SHA-256 of its body, which
 * the store checks (BadDigest otherwise); the signature then need not hash the body a second time.
 */
class ObjectWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private uploadId?: string;
  private readonly sent: { ETag: string; ChecksumSHA256: string; PartNumber: number }[] = [];
  private readonly partHashes: Buffer[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  private bytesSent = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly partSize: number,
    private readonly contentType?: string,
    private readonly reservation?: ByteReservation,
  ) {}

  /** Reserves the next `bytes` before they are sent. */
  private async reserveNext(bytes: number): Promise<void> {
    this.bytesSent += bytes;
    await this.reservation?.cover(this.bytesSent);
  }

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.partSize) await this.sendPart(this.partSize);
  }

  /** Sends what is left and completes the object; returns the checksum S3 will report for it. */
  async finish(): Promise<string> {
    if (this.uploadId === undefined && this.pendingBytes < this.partSize) {
      const body = Buffer.concat(this.pending, this.pendingBytes);
      await this.reserveNext(body.length);
      const checksum = sha256(body).toString('base64');
      await this.s3.send(
        unsignedPayload(new PutObjectCommand({ Bucket: this.bucket, Key: this.key, Body: body, ChecksumSHA256: checksum, ContentType: this.contentType })),
      );
      return checksum;
    }
    if (this.pendingBytes > 0) await this.sendPart(this.pendingBytes);
    await this.settle();
    await this.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.sent },
      }),
    );
    return `${sha256(Buffer.concat(this.partHashes)).toString('base64')}-${this.partHashes.length}`;
  }

  /** Waits for the parts in flight, then aborts the multipart upload: no part lands afterwards. */
  async abort(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.uploadId) await abortMultipartUpload(this.s3, this.bucket, this.key, this.uploadId);
  }

  private async sendPart(size: number): Promise<void> {
    while (this.inFlight.size >= S3_PARTS_IN_FLIGHT) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    await this.reserveNext(size);
    this.uploadId ??= (
      await this.s3.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, ChecksumAlgorithm: 'SHA256', ContentType: this.contentType }))
    ).UploadId!;
    const buffer = takeBuffer(this.partSize);
    const body = this.takePending(buffer, size);
    const hash = sha256(body);
    const partNumber = this.partHashes.push(hash);
    const checksum = hash.toString('base64');
    const sending: Promise<void> = this.s3
      .send(
        unsignedPayload(
          new UploadPartCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId, PartNumber: partNumber, Body: body, ChecksumSHA256: checksum }),
        ),
      )
      .then(
        (answer) => {
          this.sent[partNumber - 1] = { PartNumber: partNumber, ETag: answer.ETag!, ChecksumSHA256: checksum };
        },
        (err) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        giveBuffer(buffer);
        this.inFlight.delete(sending);
      });
    this.inFlight.add(sending);
  }

  /** Moves the first `size` pending bytes into `buffer` (one copy; chunks are split, not joined). */
  private takePending(buffer: Buffer, size: number): Buffer {
    let filled = 0;
    while (filled < size) {
      const head = this.pending[0];
      const take = Math.min(head.length, size - filled);
      head.copy(buffer, filled, 0, take);
      filled += take;
      if (take === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(take);
    }
    this.pendingBytes -= size;
    return buffer.subarray(0, size);
  }

  private async settle(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }
}

/**
 * Signs the request without hashing its body (`UNSIGNED-PAYLOAD`): for requests whose body already
 * carries a checksum the store verifies, hashing it for the signature too only cost CPU.
 */
function unsignedPayload<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
  // The middleware reads only the request, so one typing serves both commands.
  (command.middlewareStack as PutObjectCommand['middlewareStack']).add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'unsignedPayload' },
  );
  return command;
}
