/**
 * The hash of a chunked session's parts sent one after another (lib/uploads/sha256Stream.ts), kept in
 * PostgreSQL at each part's end. No lock: parts sent in parallel, out of order, again or by a
 * presigned URL simply stop the hash from going on, and the object's ETag at the finish tells
 * whether what was assembled is what was hashed.
 */
import type { Knex } from 'knex';
import { digestOf, multipartEtag } from './sha256Stream';
import type { UploadSessionRow } from './sessionRow';
import { appendHashedPart, findStreamHash, insertFirstHashedPart } from './store';

/**
 * Where part `n` goes on from, when it is the next part in order: the start for part 1, the state
 * after part n - 1 otherwise. Undefined when part `n` is not next (it is then not hashed).
 */
export async function hashBefore(db: Knex, uploadId: string, n: number): Promise<{ state: Buffer | null } | undefined> {
  const row = await findStreamHash(db, uploadId);
  if (!row) return n === 1 ? { state: null } : undefined;
  return row.parts_hashed === n - 1 ? { state: row.sha256_state } : undefined;
}

/** Part `n`, confirmed by its ETag, moves the hash on; unless another send of a part got there first. */
export async function recordHashedPart(db: Knex, uploadId: string, n: number, part: { sha256State: Buffer; etag: string }): Promise<void> {
  if (n === 1) await insertFirstHashedPart(db, uploadId, part);
  else await appendHashedPart(db, uploadId, n, part);
}

/**
 * What the finish may confirm without a read-back, when every part of the session was hashed in
 * order: the whole file's size and SHA-256, and the ETag the assembled object must have.
 */
export async function streamedWhole(
  db: Knex,
  session: UploadSessionRow,
): Promise<{ sizeBytes: number; checksumSha256: string; multipartEtag: string } | undefined> {
  const row = await findStreamHash(db, session.id);
  if (!row || row.parts_hashed !== session.part_count) return undefined;
  return { sizeBytes: session.size_bytes, checksumSha256: await digestOf(row.sha256_state), multipartEtag: multipartEtag(row.part_etags) };
}
