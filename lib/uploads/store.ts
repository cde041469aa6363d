/**
 * The store of upload sessions: the only code that runs SQL against upload_sessions, upload_parts, upload_stream_hashes and tus_uploads.
 */
export {};

// ---- used by api (moved from api/tus.ts) ----
import type { Knex } from 'knex';

/** Removes the row of an upload aborted before its client was given it (a tus creation refused with its first bytes). */
export async function deleteAbortedSession(db: Knex, id: string): Promise<void> {
  await db('upload_sessions').where({ id, status: 'aborted' }).delete();
}
