/**
 * The hash of a chunked session's parts sent one after another (lib/uploads/sha256Stream.ts), kept in
 * PostgreSQL at each part's end. No lock: parts sent in parallel, out of order, again or by a
 * presigned URL simply stop the hash from going on, and the object's ETag at the finish tells
 * whether what was assembled is what was hashed.
 */
import type { Knex } from 'knex';
import { digestOf, multipartEtag } from './sha256Stream';
import type { UploadSessionRow } from './sessionRow';

interface StreamHashRow {
  upload_id: string;
  parts_hashed: number;
  sha256_state: Buffer;
  part_etags: string[];
}

/**
 * Where part `n` goes on from, when it is the next part in order: the start for part 1, the state
 * after part n - 1 otherwise. Undefined when part `n` is not next (it is then not hashed).
 */
export async function hashBefore(db: Knex, uploadId: string, n: number): Promise<{ state: Buffer | null } | undefined> {
  const row: StreamHashRow | undefined = await db('upload_stream_hashes').where({ upload_id: uploadId }).first();
  if (!row) return n === 1 ? { state: null } : undefined;
  return row.parts_hashed === n - 1 ? { state: row.sha256_state } : undefined;
}

/** Part `n`, confirmed by its ETag, moves the hash on; unless another send of a part got there first. */
export async function recordHashedPart(db: Knex, uploadId: string, n: number, part: { sha256State: Buffer; etag: string }): Promise<void> {
  if (n === 1) {
    await db('upload_stream_hashes')
      .insert({ upload_id: uploadId, parts_hashed: 1, sha256_state: part.sha256State, part_etags: [part.etag] })
      .onConflict('upload_id')
      .ignore();
    return;
  }
  await db('upload_stream_hashes')
    .where({ upload_id: uploadId, parts_hashed: n - 1 })
    .update({ parts_hashed: n, sha256_state: part.sha256State, part_etags: db.raw('array_append(part_etags, ?)', [part.etag]) });
}

/**
 * What the finish may confirm without a read-back, when every part of the session was hashed in
 * order: the whole file's size and SHA-256, and the ETag the assembled object must have.
 */
export async function streamedWhole(
  db: Knex,
  session: UploadSessionRow,
): Promise<{ sizeBytes: number; checksumSha256: string; multipartEtag: string } | undefined> {
  const row: StreamHashRow | undefined = await db('upload_stream_hashes').where({ upload_id: session.id }).first();
  if (!row || row.parts_hashed !== session.part_count) return undefined;
  return { sizeBytes: session.size_bytes, checksumSha256: await digestOf(row.sha256_state), multipartEtag: multipartEtag(row.part_etags) };
}
