/**
 * A tus upload's bytes: each PATCH (or the body of a creation-with-upload) is stored as the next part
 * of the run's multipart upload, and its offset and part count are recorded in PostgreSQL
 * (lib/tus/uploads.ts) under an advisory lock, so any replica serves the next request. The whole
 * file's SHA-256 goes on with each part, its state kept with the offset (lib/uploads/sha256Stream.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Request } from 'express';
import type { Knex } from 'knex';
import { ChecksumMismatchError, ConflictError, GoneError, LockedError, PayloadTooLargeError, ValidationError } from '../../lib/platform/errors';
import { createMeter } from '../../lib/platform/staging';
import { countingProgress } from '../../lib/uploads/progress';
import { partHashTap, saveState, sha256From } from '../../lib/uploads/sha256Stream';
import { recordPart, withUploadLock } from '../../lib/tus/uploads';
import { findTusUpload, type TusUploadRow } from '../../lib/uploads/store';
import { PartRefusedError, sendPartBody } from '../../lib/uploads/partBody';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { getUploadSession } from '../../lib/uploads/sessions';
import { sessionStillWrites } from '../../lib/uploads/sessionAccess';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../schemas/uploads';

/** Where a tus upload's bytes go, and what counts them. */
export interface TusStore {
  db: Knex;
  s3: S3Client;
  bucket: string;
  countBytes: (n: number) => void;
  /** STORAGE_UPLOAD_STALL_SECONDS: a PATCH streaming touches its session at most every fifth of it (lib/uploads/progress.ts). */
  stallSeconds: number;
}

/** Why an upload that is not open takes no more bytes: tus clients stop on 410 and 460, and retry on 409. */
export function notOpen(session: UploadSessionRow): Error {
  if (session.status === 'failed' && session.error?.startsWith('checksum mismatch')) {
    return new ChecksumMismatchError(`upload ${session.id} failed: ${session.error}; its bytes are gone`);
  }
  if (session.status === 'completing' || session.status === 'completed') return new ConflictError(`upload ${session.id} has all its bytes`);
  return new GoneError(`upload ${session.id} is ${session.status}${session.error ? ` (${session.error})` : ''}: its bytes are gone`);
}

/** Whether a body of `length` bytes at `offset` ends an upload of `size`; throws unless it may be stored as one part. */
export function checkBodyLength(offset: number, length: number, size: number): boolean {
  const end = offset + length;
  if (end > size) throw new PayloadTooLargeError(`the body would end at ${end}, past Upload-Length ${size}`);
  const finishes = end === size;
  // Every part of a multipart upload but the last is at least 5 MiB.
  if (!finishes && length > 0 && length < MIN_PART_SIZE) {
    throw new ValidationError(`a PATCH that does not end the upload carries at least ${MIN_PART_SIZE} bytes (5 MiB); this one has ${length}`, [
      { path: 'content-length', message: `must be at least ${MIN_PART_SIZE}, or the rest of the upload` },
    ]);
  }
  if (length > MAX_PART_SIZE) throw new PayloadTooLargeError(`a PATCH carries at most ${MAX_PART_SIZE} bytes (5 GiB)`);
  return finishes;
}

interface BodyHeaders {
  offset: number;
  length: number;
  /** Upload-Checksum's base64 SHA-256. */
  checksum?: string;
}

/**
 * Stores the request's body as the upload's next part, holding its lock, and answers the new
 * offset. A body cut short stores nothing (S3 takes a part whole or not at all), so the offset is
 * always at the end of a part, and the client resumes from there. The part is recorded only if the
 * session may still take it, asked in the transaction that records it: a grant change that ended
 * the session while the body streamed moves no offset.
 */
export async function appendBody(store: TusStore, req: Request, id: string, headers: BodyHeaders): Promise<{ offset: number; finishes: boolean }> {
  const { db } = store;
  return withUploadLock(db, id, async (lockHeld) => {
    const session = await getUploadSession(db, id);
    if (session.status !== 'open') throw notOpen(session);
    if (Date.now() >= session.expires_at.getTime()) throw new GoneError(`upload ${id} has expired`);
    const tus = (await findTusUpload(db, id))!;
    if (headers.offset !== tus.offset_bytes) throw new ConflictError(`Upload-Offset is ${headers.offset}, but the upload is at ${tus.offset_bytes}: send HEAD`);
    const finishes = checkBodyLength(tus.offset_bytes, headers.length, session.size_bytes);
    // An empty body stores nothing, but for the one empty part of an empty upload.
    if (headers.length === 0 && !(finishes && tus.part_count === 0)) return { offset: tus.offset_bytes, finishes: false };
    const partNumber = tus.part_count + 1;
    const { etag, sha256State } = await storePart(store, req, session, tus, headers);
    return db.transaction(async (trx) => {
      // The lock was lost while the body streamed: another PATCH may have stored this part since, and its record stands.
      if (!(await lockHeld(trx))) throw new LockedError(`upload ${id} lost its lock while this PATCH streamed: send HEAD, then try again`);
      if (!(await sessionStillWrites(trx, id))) throw new GoneError(`upload ${id} has ended: its bytes are gone`);
      return { offset: await recordPart(trx, id, { partNumber, sizeBytes: headers.length, sha256State, etag: etag ?? '' }), finishes };
    });
  });
}

/** Sends the body to the store as the upload's next part, hashing it on from the last part's end when every byte so far was hashed here. */
async function storePart(store: TusStore, req: Request, session: UploadSessionRow, tus: TusUploadRow, headers: BodyHeaders) {
  const meter = createMeter(headers.length, countingProgress(store.db, session.id, store.stallSeconds, store.countBytes));
  const streamed = tus.sha256_streamed && (tus.sha256_state !== null || tus.offset_bytes === 0);
  const sha256 = streamed ? await sha256From(tus.sha256_state) : undefined;
  const tap = sha256 ? partHashTap(sha256) : undefined;
  let etag: string | undefined;
  try {
    ({ etag } = await sendPartBody(
      store.s3,
      {
        bucket: store.bucket,
        key: session.object_key,
        uploadId: session.s3_upload_id!,
        partNumber: tus.part_count + 1,
        sizeBytes: headers.length,
        declaredSha256: headers.checksum && Buffer.from(headers.checksum, 'base64').toString('hex'),
      },
      req,
      meter,
      tap?.stream,
    ));
  } catch (err) {
    if (!(err instanceof PartRefusedError)) throw err;
    if (err.refusal === 'checksum') throw new ChecksumMismatchError('the body does not match its Upload-Checksum; none of it was kept');
    // Terminated or expired meanwhile: the workflow has dropped the multipart upload.
    throw new GoneError(`upload ${session.id} has ended: its bytes are gone`);
  }
  // The store holds the bytes hashed when its ETag (the part's MD5) is theirs.
  const sha256State = sha256 && etag === tap!.etag() ? saveState(sha256) : null;
  return { etag, sha256State };
}
