/**
 * A request's body on its way to the store as one part (a chunked upload's part, a tus PATCH), through
 * the meter and, when the whole file is hashed on the way, its hash tap. The SDK pipes the body into
 * its own HTTP request, and a pipe whose source fails leaves its destination open: the store's request
 * would wait for the rest of a body that is never coming (a client gone, a budget refused), holding
 * its socket and, for a PATCH, the upload's lock. So every failure of the body also aborts the store's
 * request, through `signal`, and the store keeps nothing of the part.
 */
import { UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { ValidationError } from '../platform/errors';
import { DigestMismatchError, type createMeter } from '../platform/staging';

export interface PartBody {
  body: Transform;
  /** Passed to the store's request: aborted, with the body's failure as its reason, when the body fails. */
  signal: AbortSignal;
  /** The body's failure, to answer instead of the store's abort error; undefined while it has none. */
  failure(): unknown;
}

export function partBodyOf(req: IncomingMessage, meter: Transform, tap?: Transform): PartBody {
  const controller = new AbortController();
  const fail = (err: Error) => {
    if (!controller.signal.aborted) controller.abort(err);
  };
  // pipe passes no errors on: the meter's (a budget refused, the client gone) fails the tap, and both the store's request.
  meter.on('error', (err) => {
    tap?.destroy(err);
    fail(err);
  });
  tap?.on('error', fail);
  const body = tap ? req.pipe(meter).pipe(tap) : req.pipe(meter);
  const leave = () => {
    if (!req.complete) meter.destroy(new ValidationError('the client closed the connection before the body ended'));
  };
  // Closed before this was put on (the request read the session meanwhile): no 'close' is coming.
  if (req.destroyed) leave();
  else req.once('close', leave);
  return { body, signal: controller.signal, failure: () => (controller.signal.aborted ? controller.signal.reason : undefined) };
}

/** Why the store took no part: its bytes did not match their declared SHA-256, or the multipart upload is gone (aborted, expired). */
export class PartRefusedError extends Error {
  constructor(readonly refusal: 'checksum' | 'upload-gone') {
    super(refusal);
  }
}

/**
 * Sends `req`'s body to the store as part `partNumber` of the multipart upload, through `meter` (and
 * `tap`). With `declaredSha256` (hex) the store checks the bytes, and so does the meter, which holds
 * the body's last chunk back until it has checked them (createMeter's verifyBeforeEnd): a mismatch keeps
 * nothing, whether or not the store checks checksums itself. The body's own failure is what is thrown
 * when it failed first.
 */
export async function sendPartBody(
  s3: S3Client,
  target: { bucket: string; key: string; uploadId: string; partNumber: number; sizeBytes: number; declaredSha256?: string },
  req: IncomingMessage,
  meter: ReturnType<typeof createMeter>,
  tap?: Transform,
): Promise<{ etag: string | undefined; checksumSha256: string }> {
  if (target.declaredSha256) meter.verifyBeforeEnd(target.declaredSha256);
  const { body, signal, failure } = partBodyOf(req, meter.stream, tap);
  let etag: string | undefined;
  try {
    ({ ETag: etag } = await s3.send(
      new UploadPartCommand({
        Bucket: target.bucket,
        Key: target.key,
        UploadId: target.uploadId,
        PartNumber: target.partNumber,
        Body: body,
        ContentLength: target.sizeBytes,
        ChecksumSHA256: target.declaredSha256 ? Buffer.from(target.declaredSha256, 'hex').toString('base64') : undefined,
      }),
      { abortSignal: signal },
    ));
  } catch (err) {
    // The meter refused the body before its last byte: the store's request was cut short, and kept nothing.
    if (failure() instanceof DigestMismatchError) throw new PartRefusedError('checksum');
    if (failure()) throw failure();
    const name = (err as { name?: string }).name;
    if (name === 'BadDigest') throw new PartRefusedError('checksum');
    if (name === 'NoSuchUpload') throw new PartRefusedError('upload-gone');
    throw err;
  }
  const { checksumSha256 } = meter.result();
  if (target.declaredSha256 && checksumSha256 !== target.declaredSha256) throw new PartRefusedError('checksum');
  return { etag, checksumSha256 };
}
