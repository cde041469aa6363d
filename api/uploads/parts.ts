import { UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Request } from 'express';
import type { Knex } from 'knex';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { ConflictError, UnprocessableError, ValidationError } from '../../lib/platform/errors';
import { expectedPartSize } from '../../lib/platform/multipart';
import { createMeter } from '../../lib/platform/staging';
import { partHashTap, saveState, sha256From } from '../../lib/uploads/sha256Stream';
import { hashBefore, recordHashedPart } from '../../lib/uploads/chunkedHashStates';
import { PartRefusedError, sendPartBody } from '../../lib/uploads/partBody';

/** A part may be sent while the session is open, by number within the session, at its exact size. */
export function checkPartRequest(session: UploadSessionRow, n: number, contentLength?: number): number {
  if (session.kind !== 'chunked') throw new ConflictError(`upload ${session.id} is not a chunked upload`);
  if (session.status !== 'open' || !session.s3_upload_id) throw new ConflictError(`upload ${session.id} is ${session.status}: it takes no more parts`);
  if (n > session.part_count!) {
    throw new ValidationError(`part ${n} is beyond the session's ${session.part_count} parts`, [{ path: 'n', message: `must be 1..${session.part_count}` }]);
  }
  const expected = expectedPartSize(session.size_bytes, session.part_size_bytes!, session.part_count!, n);
  if (contentLength !== undefined && contentLength !== expected) {
    throw new ValidationError(`part ${n} must be exactly ${expected} bytes; Content-Length says ${contentLength}`, [
      { path: 'content-length', message: `must be ${expected}` },
    ]);
  }
  return expected;
}

/**
 * Streams the request body to S3 as one part, hashing it on the way. With a declared checksum the
 * API holds the part's last bytes back until it has checked them (lib/uploads/partBody.ts), and a store
 * that checks x-amz-checksum-sha256 checks them too: a damaged part is never kept, so never committed,
 * whatever the store does with checksums. The part
 * that comes next in order also goes on with the whole file's hash (lib/uploads/chunkedHashStates.ts),
 * whose state is saved once the store's ETag confirms the part holds the bytes hashed.
 */
export async function streamPart(
  req: Request,
  deps: { s3: S3Client; db: Knex; bucket: string },
  session: UploadSessionRow,
  part: { n: number; sizeBytes: number; declaredSha256?: string },
  countBytes: (n: number) => void,
) {
  const { n, sizeBytes, declaredSha256 } = part;
  const before = await hashBefore(deps.db, session.id, n);
  const sha256 = before ? await sha256From(before.state) : undefined;
  const tap = sha256 ? partHashTap(sha256) : undefined;
  const meter = createMeter(Infinity, countBytes);
  let etag: string | undefined;
  let checksumSha256: string;
  try {
    ({ etag, checksumSha256 } = await sendPartBody(
      deps.s3,
      { bucket: deps.bucket, key: session.object_key, uploadId: session.s3_upload_id!, partNumber: n, sizeBytes, declaredSha256 },
      req,
      meter,
      tap?.stream,
    ));
  } catch (err) {
    if (!(err instanceof PartRefusedError)) throw err;
    if (err.refusal === 'checksum') throw new UnprocessableError(`part ${n} does not match its X-Checksum-SHA256; it was not kept`);
    // The row still said open, but an abort (or expiry) has already dropped the multipart upload.
    throw new ConflictError(`upload ${session.id} is being closed: it takes no more parts`);
  }
  if (tap && etag === tap.etag()) await recordHashedPart(deps.db, session.id, n, { sha256State: saveState(sha256!), etag });
  return { part_number: n, size_bytes: sizeBytes, checksum_sha256: checksumSha256 };
}

export async function presignPart(s3: S3Client, bucket: string, session: UploadSessionRow, n: number, sizeBytes: number) {
  const expiresIn = Math.max(60, Math.min(3600, Math.floor((session.expires_at.getTime() - Date.now()) / 1000)));
  const url = await getSignedUrl(
    s3,
    new UploadPartCommand({ Bucket: bucket, Key: session.object_key, UploadId: session.s3_upload_id!, PartNumber: n, ContentLength: sizeBytes }),
    { expiresIn },
  );
  return { url, method: 'PUT' as const, expires_at: new Date(Date.now() + expiresIn * 1000).toISOString(), expiresIn };
}
