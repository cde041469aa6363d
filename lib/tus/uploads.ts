/**
 * What the tus protocol keeps of an upload beside its session row: the offset and the number of
 * parts stored. Kept in PostgreSQL, so that whichever API replica takes the next request knows them.
 */
import type { Knex } from 'knex';
import pg from 'pg';
import { LockedError } from '../platform/errors';
import { advanceTusUpload, tryTusUploadLock, tusUploadLockHeldBy } from '../uploads/store';

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
    const { locked, pid } = await tryTusUploadLock(connection, uploadId);
    if (!locked) throw new LockedError(`upload ${uploadId} is taking another request; try again`);
    // The backend that took it holds it still.
    return await fn((trx) => tusUploadLockHeldBy(trx, uploadId, pid));
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
  const row = await advanceTusUpload(trx, uploadId, part);
  if (!row) throw new Error(`upload ${uploadId}: part ${part.partNumber} is not the next part`);
  return Number(row.offset_bytes);
}
