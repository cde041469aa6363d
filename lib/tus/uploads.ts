/**
 * What the tus protocol keeps of an upload beside its session row: the offset and the number of
 * parts stored. Kept in PostgreSQL, so that whichever API replica takes the next request knows them.
 */
import type { Knex } from 'knex';
import pg from 'pg';
import { LockedError } from '../platform/errors';

export interface TusUploadRow {
  upload_id: string;
  offset_bytes: number;
  part_count: number;
  upload_metadata: string | null;
  sha256_state: Buffer | null;
  sha256_streamed: boolean;
  /** The store's ETag of each part recorded, in order (empty for uploads begun before they were kept). */
  part_etags: string[];
}

export async function insertTusUpload(db: Knex, uploadId: string, uploadMetadata: string | undefined): Promise<void> {
  await db('tus_uploads')
    .insert({ upload_id: uploadId, upload_metadata: uploadMetadata ?? null })
    .onConflict('upload_id')
    .ignore();
}

export async function findTusUpload(db: Knex | Knex.Transaction, uploadId: string): Promise<TusUploadRow | undefined> {
  return db('tus_uploads').where({ upload_id: uploadId }).first();
}

/** Whether the upload's lock is still held by the request that took it, asked in `trx`. */
export type UploadLockCheck = (trx: Knex.Transaction) => Promise<boolean>;

// As long as the pool waits for one of its connections.
const LOCK_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Runs `fn` holding the upload's lock: one PATCH at a time per upload across every API replica. The
 * lock is a PostgreSQL advisory lock of a connection of its own, made for the request (not one of the
 * pool's): a slow body holds no pooled connection, so the pool answers other requests however many
 * PATCHes stream (their number is bounded by the stream limits, lib/limits/uploadStreams.ts). Ending that
 * connection releases the lock, whichever way `fn` ends; PostgreSQL releases it too when the process
 * dies. A PATCH that finds it held is 423: the client retries, as tus clients do.
 *
 * That connection can also end while `fn` runs (a restart of PostgreSQL, a terminated backend, a
 * network cut): the lock is gone, and another PATCH may take it. `held` tells, in the transaction
 * that records the part, whether the lock is still this request's.
 */
export async function withUploadLock<T>(db: Knex, uploadId: string, fn: (held: UploadLockCheck) => Promise<T>): Promise<T> {
  const settings = (db.client as { connectionSettings: pg.ClientConfig }).connectionSettings;
  const connection = new pg.Client({ ...settings, connectionTimeoutMillis: LOCK_CONNECT_TIMEOUT_MS });
  // A connection lost meanwhile fails its next query; its 'error' event must not end the process.
  connection.on('error', () => {});
  try {
    await connection.connect();
    const { rows } = await connection.query<{ locked: boolean; pid: number }>(
      "SELECT pg_try_advisory_lock(hashtextextended('tus:' || $1, 0)) AS locked, pg_backend_pid() AS pid",
      [uploadId],
    );
    if (!rows[0].locked) throw new LockedError(`upload ${uploadId} is taking another request; try again`);
    const { pid } = rows[0];
    // The backend that took it holds it still (a bigint key shows as its high and low 32 bits; a pid alone may be reused).
    return await fn(async (trx) => {
      const held = await trx.raw(
        `SELECT EXISTS (
           SELECT 1 FROM pg_locks, (SELECT hashtextextended('tus:' || ?, 0) AS k) AS lock
            WHERE locktype = 'advisory' AND granted AND pid = ? AND objsubid = 1
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND classid = ((lock.k >> 32) & 4294967295)::oid AND objid = (lock.k & 4294967295)::oid
         ) AS held`,
        [uploadId, pid],
      );
      return held.rows[0].held === true;
    });
  } finally {
    await connection.end().catch(() => {});
  }
}

/**
 * Records part `partNumber` as stored, `sizeBytes` long, with the store's ETag of it: the offset moves
 * past it, and the hash state is the one at its end (null when the part's bytes are not confirmed: no
 * streamed hash from then on).
 */
export async function recordPart(
  trx: Knex.Transaction,
  uploadId: string,
  part: { partNumber: number; sizeBytes: number; sha256State: Buffer | null; etag: string },
): Promise<number> {
  const [row] = await trx('tus_uploads')
    .where({ upload_id: uploadId, part_count: part.partNumber - 1 })
    .update({
      part_count: part.partNumber,
      offset_bytes: trx.raw('offset_bytes + ?', [part.sizeBytes]),
      sha256_state: part.sha256State,
      sha256_streamed: trx.raw('sha256_streamed AND ?', [part.sha256State !== null]),
      part_etags: trx.raw('array_append(part_etags, ?)', [part.etag]),
    })
    .returning('offset_bytes');
  if (!row) throw new Error(`upload ${uploadId}: part ${part.partNumber} is not the next part`);
  return Number(row.offset_bytes);
}
