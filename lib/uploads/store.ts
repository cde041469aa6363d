/**
 * The store of upload sessions: the only code that runs SQL against upload_sessions, upload_parts,
 * upload_stream_hashes and tus_uploads.
 *
 * Invariants
 * - A session's row is written once, by its run's openUpload, with status `open`; its id, kind,
 *   version_id, object_key and result_asset_id never change. `asset_id` is null for a session that
 *   makes a new asset (result_asset_id names it), else the asset its version joins; the row goes with
 *   that asset (cascade), and with the asset it made (deleteAssetRows, by result_asset_id).
 * - Status moves forward: open → completing → completed; open or completing → failed, aborted or
 *   expired (the run's discardUpload, a grant change, a permanent deletion of the asset). An ended
 *   session's status may be written once more by its run's discardUpload (a session a grant change
 *   failed, whose run is then told to abort, ends aborted). `completed` is final and set once, in the
 *   commit's transaction with the version it made (version_number, size_bytes, checksum_sha256 are then
 *   the verified ones). A simple upload's row that is aborted or expired is deleted instead (its id was
 *   never shown), and so is a tus upload's aborted at its creation (api/tus.ts).
 * - `write_basis` is set at open for a new version's session and never changes: why its opener could
 *   write the asset (lib/uploads/sessionAccess.ts). A session whose basis no longer holds ends `failed`
 *   (endRevokedSessions when the grant change commits, or its commit).
 * - `reserved_bytes`, charged to `quota_owner_id`, only grows while the session is open or completing
 *   (growSessionReservation: GREATEST); the trigger upload_sessions_usage (migrations/…09_quotas.ts)
 *   adds it, and one reserved asset for a new asset's session, to owner_usage while the status is open
 *   or completing, and takes them back when it leaves those (lib/quotas/store.ts).
 * - `s3_upload_id` is set once, after the row, for chunked and tus sessions.
 * - `last_progress_at` only moves forward, while the session is open or completing: to the database's
 *   now() when it opens, when its reservation grows, when the API touches it while a body streams or a
 *   part or PATCH is stored (touchSessionProgress, at most once per `everyMs`); to a presigned part
 *   URL's expiry when one is issued (expectProgressUntil: its PUT never passes the API, so the client
 *   counts as sending until then). No lock is waited for beyond the row's own UPDATE; its run reads it
 *   (sessionProgressOf) to end a stalled session.
 * - upload_stream_hashes: one row per chunked session whose part 1 was hashed; `parts_hashed` only
 *   moves n - 1 → n, with the SHA-256 state at part n's end and part n's ETag appended. No lock: a part
 *   sent out of order, again or in parallel stops the row moving (lib/uploads/chunkedHashStates.ts).
 * - tus_uploads: one row per tus session; `part_count` only moves n - 1 → n, and `offset_bytes` by that
 *   part's size, under the upload's advisory lock; `sha256_streamed` only turns false.
 * - upload_parts: no code writes it any more (S3's part listing is the truth).
 *
 * Lock order (every writer takes the locks it needs in this order):
 *   the tus PATCH's advisory lock (withUploadLock: pg_try_advisory_lock on a connection of its own,
 *   never waited for: a PATCH that finds it held is 423)
 *   → the asset's row (FOR SHARE at a session's insert; FOR UPDATE at the commit, a grant change, a
 *     permanent deletion's deleteAssetRows)
 *   → the session's row (FOR UPDATE / FOR SHARE, or the UPDATE that ends it)
 *   → the asset's version rows (the commit supersedes and inserts them after the session's lock)
 *   → owner_usage (locked by the quota triggers of those writes, lib/quotas/store.ts).
 * A writer that needs no asset (a new asset's session, a reservation, a discard) starts at the session.
 * The commit of a new asset inserts the asset's row after the session's lock: the row is new, nothing waits on it.
 * The commit and a grant change take the asset's row before any session of it, so whichever commits
 * first, the other sees it; the permanent deletion takes it too before deleting sessions, and by then
 * the asset is marked purging, so no restore makes it live again for a grant change or a commit.
 * sessionStillWrites share-locks the session, then reads the asset and its grants without a lock.
 */
import type { Knex } from 'knex';
import type { Client } from 'pg';
import type { UploadSessionRow } from './sessionRow';
import { exactTimeSql } from '../platform/db';

export async function findUploadSession(db: Knex | Knex.Transaction, id: string): Promise<UploadSessionRow | undefined> {
  return db('upload_sessions').where({ id }).first();
}

export async function uploadSessionExists(db: Knex | Knex.Transaction, id: string): Promise<boolean> {
  return Boolean(await db('upload_sessions').where({ id }).first('id'));
}

/** A page of GET /uploads, newest first (ids are UUID v7), before `beforeId`: an owner's, or everyone's; of one status or any. */
export async function selectSessionPage(
  db: Knex,
  q: { ownerId?: string; status?: UploadSessionRow['status']; beforeId?: string; limit: number },
): Promise<UploadSessionRow[]> {
  const query = db('upload_sessions').select('*');
  if (q.ownerId !== undefined) query.where('owner_id', q.ownerId);
  if (q.status !== undefined) query.where('status', q.status);
  if (q.beforeId !== undefined) query.where('id', '<', q.beforeId);
  return query.orderBy('id', 'desc').limit(q.limit);
}

/** A repeated insert of the same id changes nothing. */
export async function insertUploadSessionRow(db: Knex | Knex.Transaction, row: Record<string, unknown>): Promise<void> {
  await db('upload_sessions').insert(row).onConflict('id').ignore();
}

export async function setSessionS3UploadId(db: Knex | Knex.Transaction, id: string, s3UploadId: string): Promise<void> {
  await db('upload_sessions').where({ id }).update({ s3_upload_id: s3UploadId });
}

/** Which of `objectKeys` an open or completing session writes to (its multipart upload is still in use). */
export async function keysOfSessionsInProgress(db: Knex | Knex.Transaction, objectKeys: string[]): Promise<string[]> {
  if (objectKeys.length === 0) return [];
  return db('upload_sessions').whereIn('object_key', objectKeys).whereIn('status', ['open', 'completing']).pluck('object_key');
}

/** `fields` carry status completing and the form fields given at complete; a session no longer open is left as it is. */
export async function markOpenSessionCompleting(db: Knex | Knex.Transaction, id: string, fields: Record<string, unknown>): Promise<void> {
  await db('upload_sessions').where({ id, status: 'open' }).update(fields);
}

export async function lockOpenSession(db: Knex | Knex.Transaction, id: string): Promise<UploadSessionRow | undefined> {
  return db('upload_sessions').where({ id, status: 'open' }).forUpdate().first();
}

export async function updateSessionFields(db: Knex | Knex.Transaction, id: string, fields: Record<string, unknown>): Promise<void> {
  await db('upload_sessions').where({ id }).update(fields);
}

export async function lockSession(db: Knex | Knex.Transaction, id: string): Promise<UploadSessionRow | undefined> {
  return db('upload_sessions').where({ id }).forUpdate().first();
}

export async function shareLockSession(db: Knex | Knex.Transaction, id: string): Promise<UploadSessionRow | undefined> {
  return db('upload_sessions').where({ id }).forShare().first();
}

export async function markSessionCompleted(
  db: Knex | Knex.Transaction,
  id: string,
  version: { versionNumber: number; sizeBytes: number; checksumSha256: string; contentType: string },
): Promise<void> {
  await db('upload_sessions').where({ id }).update({
    status: 'completed',
    content_type: version.contentType,
    version_number: version.versionNumber,
    size_bytes: version.sizeBytes,
    checksum_sha256: version.checksumSha256,
    error: null,
  });
}

/** Ends the session with `status` (its reservation goes back by the trigger). */
export async function setSessionEnded(db: Knex | Knex.Transaction, id: string, status: 'aborted' | 'expired' | 'failed', error: string | null): Promise<void> {
  await db('upload_sessions').where({ id }).update({ status, error });
}

export async function deleteUploadSession(db: Knex | Knex.Transaction, id: string): Promise<void> {
  await db('upload_sessions').where({ id }).delete();
}

/** The open chunked and tus sessions of new versions of the asset, locked. */
export async function lockOpenStreamingSessionsOf(db: Knex | Knex.Transaction, assetId: string): Promise<UploadSessionRow[]> {
  return db('upload_sessions').where({ asset_id: assetId, status: 'open' }).whereIn('kind', ['chunked', 'tus']).forUpdate().select();
}

/**
 * Grows an open or completing session's reservation to at least `totalBytes`, in one statement: the
 * row is locked, read as it was and grown. Undefined when the session is no longer open or completing.
 */
export async function growSessionReservation(
  db: Knex | Knex.Transaction,
  id: string,
  totalBytes: number,
): Promise<{ reserved_before: number | string; quota_owner_id: string | null } | undefined> {
  const {
    rows: [row],
  } = await db.raw(
    `WITH before AS (SELECT id, reserved_bytes FROM upload_sessions WHERE id = ? AND status IN ('open', 'completing') FOR UPDATE)
       UPDATE upload_sessions s SET reserved_bytes = GREATEST(b.reserved_bytes, ?), last_progress_at = GREATEST(s.last_progress_at, now())
         FROM before b WHERE s.id = b.id
       RETURNING b.reserved_bytes AS reserved_before, s.quota_owner_id`,
    [id, totalBytes],
  );
  return row;
}

/**
 * Records that the session's client is still sending: moves `last_progress_at` to now, unless it moved
 * less than `everyMs` ago (so a stream's many calls cost one UPDATE every few seconds). An ended session is left alone.
 */
export async function touchSessionProgress(db: Knex | Knex.Transaction, id: string, everyMs: number): Promise<void> {
  await db('upload_sessions')
    .where({ id })
    .whereIn('status', ['open', 'completing'])
    .where('last_progress_at', '<', db.raw(`now() - make_interval(secs => ?)`, [everyMs / 1000]))
    .update({ last_progress_at: db.fn.now() });
}

/**
 * A presigned URL for one of the session's parts was issued, valid `seconds`: the part's PUT goes
 * straight to the store, where the API sees none of it, so the session counts as progressing until
 * the URL expires (a PUT begun by then still has the stall bound to end).
 */
export async function expectProgressUntil(db: Knex | Knex.Transaction, id: string, seconds: number): Promise<void> {
  await db('upload_sessions')
    .where({ id, status: 'open' })
    .update({ last_progress_at: db.raw('GREATEST(last_progress_at, now() + make_interval(secs => ?))', [seconds]) });
}

/** What a run reads of its session while it waits: its status, its result's ids, and the seconds since its last progress (by the database's clock). */
export async function sessionProgressOf(
  db: Knex | Knex.Transaction,
  id: string,
): Promise<
  | (Pick<UploadSessionRow, 'status' | 'kind' | 'object_key' | 's3_upload_id' | 'result_asset_id' | 'version_id' | 'error'> & { idle_seconds: number | string })
  | undefined
> {
  return db('upload_sessions')
    .where({ id })
    .first(
      'status',
      'kind',
      'object_key',
      's3_upload_id',
      'result_asset_id',
      'version_id',
      'error',
      db.raw('extract(epoch from now() - last_progress_at) AS idle_seconds'),
    );
}

// ---- upload_stream_hashes ----

export interface StreamHashRow {
  upload_id: string;
  parts_hashed: number;
  sha256_state: Buffer;
  part_etags: string[];
}

export async function findStreamHash(db: Knex | Knex.Transaction, uploadId: string): Promise<StreamHashRow | undefined> {
  return db('upload_stream_hashes').where({ upload_id: uploadId }).first();
}

export async function insertFirstHashedPart(db: Knex | Knex.Transaction, uploadId: string, part: { sha256State: Buffer; etag: string }): Promise<void> {
  await db('upload_stream_hashes')
    .insert({ upload_id: uploadId, parts_hashed: 1, sha256_state: part.sha256State, part_etags: [part.etag] })
    .onConflict('upload_id')
    .ignore();
}

/** Moves the hash from part n - 1 to part `n`; changes nothing unless it stood at n - 1. */
export async function appendHashedPart(db: Knex | Knex.Transaction, uploadId: string, n: number, part: { sha256State: Buffer; etag: string }): Promise<void> {
  await db('upload_stream_hashes')
    .where({ upload_id: uploadId, parts_hashed: n - 1 })
    .update({ parts_hashed: n, sha256_state: part.sha256State, part_etags: db.raw('array_append(part_etags, ?)', [part.etag]) });
}

// ---- tus_uploads ----

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

/** Moves the upload past part `partNumber` when it is the next one: its new offset, or undefined. */
export async function advanceTusUpload(
  db: Knex | Knex.Transaction,
  uploadId: string,
  part: { partNumber: number; sizeBytes: number; sha256State: Buffer | null; etag: string },
): Promise<{ offset_bytes: number | string } | undefined> {
  const [row] = await db('tus_uploads')
    .where({ upload_id: uploadId, part_count: part.partNumber - 1 })
    .update({
      part_count: part.partNumber,
      offset_bytes: db.raw('offset_bytes + ?', [part.sizeBytes]),
      sha256_state: part.sha256State,
      sha256_streamed: db.raw('sha256_streamed AND ?', [part.sha256State !== null]),
      part_etags: db.raw('array_append(part_etags, ?)', [part.etag]),
    })
    .returning('offset_bytes');
  return row;
}

/** Takes the tus upload's advisory lock on `connection` (its own, lib/tus/uploads.ts withUploadLock) without waiting. */
export async function tryTusUploadLock(connection: Client, uploadId: string): Promise<{ locked: boolean; pid: number }> {
  const { rows } = await connection.query<{ locked: boolean; pid: number }>(
    "SELECT pg_try_advisory_lock(hashtextextended('tus:' || $1, 0)) AS locked, pg_backend_pid() AS pid",
    [uploadId],
  );
  return rows[0];
}

/** Whether backend `pid` still holds the tus upload's advisory lock (a bigint key shows as its high and low 32 bits; a pid alone may be reused). */
export async function tusUploadLockHeldBy(db: Knex | Knex.Transaction, uploadId: string, pid: number): Promise<boolean> {
  const held = await db.raw(
    `SELECT EXISTS (
       SELECT 1 FROM pg_locks, (SELECT hashtextextended('tus:' || ?, 0) AS k) AS lock
        WHERE locktype = 'advisory' AND granted AND pid = ? AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = ((lock.k >> 32) & 4294967295)::oid AND objid = (lock.k & 4294967295)::oid
     ) AS held`,
    [uploadId, pid],
  );
  return held.rows[0].held === true;
}

// ---- used by assets (moved from lib/assets/versions.ts and activities/assets.ts) ----

/** The completed session that made `versionId` (lib/assets/versions.ts committedVersion). */
export async function findCompletedSessionOfVersion(db: import('knex').Knex, uploadId: string, versionId: string) {
  return db('upload_sessions').where({ id: uploadId, version_id: versionId, status: 'completed' }).first();
}

/** The asset's unfinished sessions of new versions, by id, `limit` of them. */
export async function unfinishedSessionsOfAsset(db: import('knex').Knex, assetId: string, limit: number) {
  return db('upload_sessions').where({ asset_id: assetId }).whereIn('status', ['open', 'completing']).orderBy('id').limit(limit);
}

export async function markSessionAborted(db: import('knex').Knex, uploadId: string, error: string): Promise<void> {
  await db('upload_sessions').where({ id: uploadId }).update({ status: 'aborted', error });
}

/** Deletes the sessions whose result is the asset (the one that created it names it only so). */
export async function deleteSessionsResultingIn(trx: import('knex').Knex.Transaction, assetId: string): Promise<void> {
  await trx('upload_sessions').where({ result_asset_id: assetId }).delete();
}

// ---- used by lifecycle (moved from lib/lifecycle/sweep.ts) ----

/**
 * Open sessions abort_incomplete_uploads takes (alias `s`, their asset `a` if any), oldest first:
 * `rules` is the phase's predicate and age bound (lib/lifecycle/store.ts), `after` a keyset position.
 */
export async function selectUploadCandidates(
  db: Knex,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; workflow_id: string; at: string }>> {
  const query = db('upload_sessions as s')
    .leftJoin('assets as a', 'a.id', 's.asset_id')
    .select('s.id', 's.workflow_id', db.raw(`${exactTimeSql('s.created_at')} AS at`))
    .where('s.status', 'open')
    .where('s.created_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 's.created_at' }, { column: 's.id' }])
    .limit(limit);
  if (after) query.whereRaw('(s.created_at, s.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
}

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

/** Upload sessions by status (the metrics' figures). */
export async function countSessionsByStatus(db: Knex): Promise<Array<{ status: string; n: number }>> {
  return db('upload_sessions').select('status', db.raw('count(*)::int AS n')).groupBy('status');
}

// ---- used by api (moved from api/tus.ts) ----

/** Removes the row of an upload aborted before its client was given it (a tus creation refused with its first bytes). */
export async function deleteAbortedSession(db: Knex, id: string): Promise<void> {
  await db('upload_sessions').where({ id, status: 'aborted' }).delete();
}

// ---- used by table retention (new, lib/lifecycle/tableRetention.ts) ----

const ENDED_SESSION_STATUSES = ['completed', 'failed', 'aborted', 'expired'];

/** Ended sessions whose last change is before `before`, by (updated_at, id) after the keyset position `after`. */
export async function selectEndedSessionsBefore(
  db: Knex,
  before: Date,
  after: { at: string; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; workflow_id: string; at: string }>> {
  const query = db('upload_sessions')
    .select('id', 'workflow_id', db.raw(`${exactTimeSql('updated_at')} AS at`))
    .whereIn('status', ENDED_SESSION_STATUSES)
    .where('updated_at', '<', before)
    .orderBy([{ column: 'updated_at' }, { column: 'id' }])
    .limit(limit);
  if (after) query.whereRaw('(updated_at, id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
}

/** Deletes those of `ids` still ended before `before` (their parts, hashes and tus rows go with them); answers how many. */
export async function deleteEndedSessions(db: Knex, ids: string[], before: Date): Promise<number> {
  if (ids.length === 0) return 0;
  return db('upload_sessions').whereIn('id', ids).whereIn('status', ENDED_SESSION_STATUSES).where('updated_at', '<', before).delete();
}
