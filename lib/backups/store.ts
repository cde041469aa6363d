/**
 * The store of backups and restores: the only code that runs SQL against backup_jobs, restore_items, backup_handoffs, backup_retention_sweeps, backup_sweep_manifests, backup_sweep_marks and backup_blob_checks.
 *
 * Invariants:
 * - backup_jobs: one row per backup (kind 'backup') and per restore (kind 'restore', `backup_id` the backup it reads;
 *   NULL for a restore to a point in time, mode 'point_in_time', whose statements are in ./store/pointInTime.ts).
 *   Status goes pending → running → completed | failed: `markJobRunning` from pending, `failJobRow` and
 *   `finishRestoreRow` only from pending or running, `markBackupCompleted` under the row's lock unless completed already
 *   (it does not look for failed); an import inserts a backup completed. A completed job stays completed. A backup's manifest is registered once (`manifest_sha256` null until then) and from that commit
 *   on retention keeps its blobs. `removed_at` (retention) is set only on a completed or failed backup that no pending
 *   or running restore reads (nor, begun by its as_of, a pending or running restore to a point in time); its `manifest_key`
 *   is cleared only after that, once the objects are deleted.
 * - restore_items: one row per (restore, asset), written once (ON CONFLICT DO NOTHING): a retried batch finds the asset
 *   done. A restore's progress is counted from its items.
 * - backup_handoffs: (backup, sha256) of contents a deletion handed to a running backup; they matter while the backup
 *   runs with a live lease (`handoff_until`), and go when it ends.
 * - backup_blob_checks: one row per content address the service hashed in the backup bucket, either verified (the
 *   bytes there hash to it) or damaged (they do not), never both; a blob is reused by a backup only when verified.
 *   Each statement is one row's upsert or a set's delete, in no transaction of another family: outside the lock order.
 * - backup_jobs.verified_restore_at / verified_by_drill: set only on a completed backup, by a restore drill that
 *   passed on it (`stampVerifiedRestore`, in the drill's ending transaction after its restore_drills row,
 *   lib/drills/store.ts), and only ever moved forward by a later drill.
 * - backup_blob_checks rows are forgotten (`forgetBlobChecks`) in the transaction of the sweep page that deletes their
 *   blobs, under the exclusive blob lock.
 * - backup_retention_sweeps: one row per sweep, running → completed | failed | refused, once. backup_sweep_marks and
 *   backup_sweep_manifests are a sweep's scratch (the contents it keeps, the manifests it has read), dropped at its end.
 *
 * Lock order, every writer (each step optional, never the reverse; each in its own short transaction, none held
 * across an S3 call, except the sweep's page deletions under the exclusive blob lock):
 *   1. the blob lock (pg_advisory_xact_lock on BLOB_LOCK): shared to register a manifest (`registerManifestRow`) or
 *      record hand-offs (`insertHandoffs`), exclusive around a page of the sweep's deletions (lib/backups/retention.ts);
 *   2. backups' backup_jobs rows, FOR UPDATE: the backup a restore is inserted for (`lockBackupRow`), the expired
 *      backups retention removes (`lockExpiredBackups`, SKIP LOCKED), the backup completing (`lockJobRow`), which then
 *      ends its hand-offs. A restore's own row is never locked FOR UPDATE, only updated (its status, its progress);
 *   3. a restore's commit (lib/backups/restore.ts) locks no job row: the asset's row FOR UPDATE (lib/assets/store.ts),
 *      then its versions, metadata and grants, its events, its restore item (whose foreign key takes KEY SHARE on the
 *      restore's row, which nothing locks FOR UPDATE) and the audit row.
 * Deletions mark versions (their rows in id order) and hand off in separate transactions before any of these.
 */
import type { Knex } from 'knex';
import { exactTimeSql } from '../platform/db';
import { BLOB_LOCK } from './blobLock';
import type { JobStatus } from '../../workflows/backups/definitions';
import type { JobRow } from './jobRows';

// ---------------------------------------------------------------------------------------------
// The blob lock (lib/backups/blobLock.ts)

export async function takeBlobLockShared(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock_shared(?)', [BLOB_LOCK]);
}

export async function takeBlobLockExclusive(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?)', [BLOB_LOCK]);
}

// ---------------------------------------------------------------------------------------------
// Jobs

/** A repeated insert (a retried activity of the schedule) finds the row it made. */
export async function insertBackupRow(db: Knex, row: Record<string, unknown>, retentionDays: number): Promise<void> {
  await db('backup_jobs')
    .insert({ ...row, expires_at: db.raw(`now() + make_interval(days => ?)`, [retentionDays]) })
    .onConflict('id')
    .ignore();
}

export async function selectJob(db: Knex | Knex.Transaction, id: string, kind: 'backup' | 'restore'): Promise<JobRow | undefined> {
  return db('backup_jobs').where({ id, kind }).first();
}

/** Newest first (ids are UUID v7), `limit` rows from before `beforeId`. */
/** The filters of GET /backups and GET /restores. */
export interface JobFilter {
  status?: JobRow['status'];
  created_after?: Date;
  created_before?: Date;
}

export async function listJobRows(
  db: Knex,
  kind: 'backup' | 'restore',
  q: { limit: number; backupId?: string; beforeId?: string } & JobFilter,
): Promise<JobRow[]> {
  const query = db('backup_jobs').where({ kind }).orderBy('id', 'desc').limit(q.limit);
  if (q.backupId) query.where({ backup_id: q.backupId });
  if (q.status) query.where({ status: q.status });
  // Exclusive, to the millisecond the answers show (as the assets' filters).
  if (q.created_after) query.where('created_at', '>=', new Date(q.created_after.getTime() + 1));
  if (q.created_before) query.where('created_at', '<', q.created_before);
  if (q.beforeId) query.where('id', '<', q.beforeId);
  return (await query) as JobRow[];
}

export async function markJobRunning(db: Knex, id: string, kind: 'backup' | 'restore'): Promise<void> {
  await db('backup_jobs').where({ id, kind, status: 'pending' }).update({ status: 'running', started_at: db.fn.now() });
}

/** Open jobs (pending or running) whose row is older than `olderThanSeconds`, oldest first. */
export async function openJobsCreatedBefore(
  db: Knex,
  olderThanSeconds: number,
  limit: number,
): Promise<Array<Pick<JobRow, 'id' | 'kind' | 'status' | 'workflow_id'>>> {
  return db('backup_jobs')
    .whereIn('status', ['pending', 'running'])
    .where('created_at', '<', db.raw('now() - make_interval(secs => ?)', [olderThanSeconds]))
    .orderBy('created_at')
    .limit(limit)
    .select('id', 'kind', 'status', 'workflow_id');
}

/** Only a job still open fails: a completed job stays completed. */
export async function failJobRow(db: Knex, id: string, error: string, progress?: object): Promise<void> {
  const fields: Record<string, unknown> = { status: 'failed', error, completed_at: db.fn.now() };
  if (progress) fields.progress = JSON.stringify(progress);
  await db('backup_jobs').where({ id }).whereIn('status', ['pending', 'running']).update(fields);
}

export async function lockJobRow(trx: Knex.Transaction, id: string): Promise<JobRow> {
  return trx('backup_jobs').where({ id }).forUpdate().first();
}

export async function lockBackupRow(trx: Knex.Transaction, id: string): Promise<JobRow | undefined> {
  return (await trx('backup_jobs').where({ id, kind: 'backup' }).forUpdate().first()) as JobRow | undefined;
}

export async function insertRestoreRow(trx: Knex.Transaction, row: Record<string, unknown>): Promise<void> {
  await trx('backup_jobs').insert(row);
}

export async function saveJobProgress(db: Knex, id: string, progress: object): Promise<void> {
  await db('backup_jobs')
    .where({ id })
    .update({ progress: JSON.stringify(progress) });
}

export async function saveRunningJobProgress(db: Knex, id: string, progress: object): Promise<void> {
  await db('backup_jobs')
    .where({ id, status: 'running' })
    .update({ progress: JSON.stringify(progress) });
}

export async function markBackupCompleted(trx: Knex.Transaction, id: string, completedAt: string, progress: object): Promise<void> {
  await trx('backup_jobs')
    .where({ id })
    .update({ status: 'completed', completed_at: completedAt, progress: JSON.stringify(progress), error: null });
}

export async function finishRestoreRow(db: Knex, id: string, status: JobStatus, error: string | null, progress: object): Promise<void> {
  await db('backup_jobs')
    .where({ id })
    .whereIn('status', ['pending', 'running'])
    .update({ status, error, progress: JSON.stringify(progress), completed_at: db.fn.now() });
}

/** The row's times, to the microsecond. */
export async function exactJobTimes(db: Knex, id: string): Promise<{ created_at: string; started_at: string | null; expires_at: string | null }> {
  return db('backup_jobs')
    .where({ id })
    .first(
      db.raw(`${exactTimeSql('created_at')} AS created_at`),
      db.raw(`${exactTimeSql('started_at')} AS started_at`),
      db.raw(`${exactTimeSql('expires_at')} AS expires_at`),
    );
}

/** The database's clock now, to the microsecond. */
export async function exactClockTime(db: Knex): Promise<string> {
  const [{ completed_at: completedAt }] = (await db.raw(`SELECT ${exactTimeSql('clock_timestamp()')} AS completed_at`)).rows;
  return completedAt;
}

export async function jobKindsOf(db: Knex, ids: string[]): Promise<Array<{ id: string; kind: string }>> {
  return db('backup_jobs').whereIn('id', ids).select('id', 'kind');
}

/** Answers the ids inserted: none when the row was there. */
export async function insertImportedBackup(trx: Knex.Transaction, row: Record<string, unknown>): Promise<unknown[]> {
  return trx('backup_jobs').insert(row).onConflict('id').ignore().returning('id');
}

// ---------------------------------------------------------------------------------------------
// Restore items

export interface ItemOutcome {
  status: 'restored' | 'skipped' | 'failed';
  error?: string | null;
  versions?: number;
  objects_copied?: number;
  bytes_done?: number;
  bytes_copied?: number;
}

export async function restoreItemExists(db: Knex | Knex.Transaction, restoreId: string, assetId: string): Promise<boolean> {
  return (await db('restore_items').where({ restore_id: restoreId, asset_id: assetId }).first()) !== undefined;
}

/** Once: a repeat leaves the first outcome. */
export async function insertRestoreItem(db: Knex | Knex.Transaction, restoreId: string, assetId: string, outcome: ItemOutcome): Promise<void> {
  await db('restore_items')
    .insert({
      restore_id: restoreId,
      asset_id: assetId,
      status: outcome.status,
      error: outcome.error ?? null,
      versions: outcome.versions ?? 0,
      objects_copied: outcome.objects_copied ?? 0,
      bytes_done: outcome.bytes_done ?? 0,
      bytes_copied: outcome.bytes_copied ?? 0,
    })
    .onConflict(['restore_id', 'asset_id'])
    .ignore();
}

export interface ItemTotals {
  status: string;
  n: number;
  versions: number;
  objects: number;
  bytes_done: number;
  bytes_copied: number;
}

export async function restoreItemTotals(db: Knex | Knex.Transaction, restoreId: string): Promise<ItemTotals[]> {
  return db('restore_items')
    .where({ restore_id: restoreId })
    .groupBy('status')
    .select(
      'status',
      db.raw('count(*)::int AS n'),
      db.raw('sum(versions)::bigint AS versions'),
      db.raw('sum(objects_copied)::bigint AS objects'),
      db.raw('sum(bytes_done)::bigint AS bytes_done'),
      db.raw('sum(bytes_copied)::bigint AS bytes_copied'),
    );
}

export async function failedItemRows(db: Knex | Knex.Transaction, restoreId: string, limit: number): Promise<Array<{ asset_id: string; error: string }>> {
  return db('restore_items').where({ restore_id: restoreId, status: 'failed' }).orderBy('asset_id').limit(limit).select('asset_id', 'error');
}

// ---------------------------------------------------------------------------------------------
// Hand-offs (lib/backups/handoff.ts)

export async function backupsTakingHandoffs<T>(db: Knex): Promise<T[]> {
  return (await db('backup_jobs').where({ kind: 'backup', status: 'running' }).where('handoff_until', '>', db.fn.now()).select('id', 'scope')) as T[];
}

export async function insertHandoffs(trx: Knex.Transaction, records: Array<{ backup_id: string; sha256: string }>): Promise<void> {
  await trx('backup_handoffs').insert(records).onConflict(['backup_id', 'sha256']).ignore();
}

export async function renewLeaseRow(db: Knex, backupId: string, leaseSeconds: number): Promise<void> {
  await db('backup_jobs')
    .where({ id: backupId, kind: 'backup', status: 'running' })
    .update({ handoff_until: db.raw(`now() + make_interval(secs => ?)`, [leaseSeconds]) });
}

export async function clearLease(db: Knex | Knex.Transaction, backupId: string): Promise<void> {
  await db('backup_jobs').where({ id: backupId }).update({ handoff_until: null });
}

export async function deleteEndedHandoffs(db: Knex | Knex.Transaction): Promise<void> {
  await db.raw(`DELETE FROM backup_handoffs h USING backup_jobs b WHERE h.backup_id = b.id AND b.status <> 'running'`);
}

/** Marks for the sweep every content handed to a backup still taking hand-offs. */
export async function markHandedOffContents(trx: Knex.Transaction, sweepId: string): Promise<void> {
  await trx.raw(
    `INSERT INTO backup_sweep_marks (sweep_id, sha256)
     SELECT DISTINCT ?::uuid, h.sha256 FROM backup_handoffs h JOIN backup_jobs b ON b.id = h.backup_id
      WHERE b.status = 'running' AND b.handoff_until > now()
     ON CONFLICT DO NOTHING`,
    [sweepId],
  );
}

// ---------------------------------------------------------------------------------------------
// Retention (lib/backups/retention.ts)

/** A repeat (the manifest registered already) changes nothing. */
export async function registerManifestRow(trx: Knex.Transaction, backupId: string, fields: Record<string, unknown>): Promise<void> {
  await trx('backup_jobs')
    .where({ id: backupId, kind: 'backup' })
    .whereNull('manifest_sha256')
    .update({ ...fields, manifest_written_at: trx.fn.now() });
}

/** Expired backups no pending or running restore reads (or, to a point in time, may read), locked (those locked elsewhere skipped). */
export async function lockExpiredBackups(trx: Knex.Transaction, asOf: Date, limit: number): Promise<Array<{ id: string }>> {
  return (
    trx('backup_jobs as b')
      .select('b.id')
      .where('b.kind', 'backup')
      .whereNull('b.removed_at')
      .whereIn('b.status', ['completed', 'failed'])
      .where('b.expires_at', '<=', asOf)
      .whereNotExists((q) => q.from('backup_jobs as r').whereRaw('r.backup_id = b.id').where('r.kind', 'restore').whereIn('r.status', ['pending', 'running']))
      // Nor any a pending or running restore to a point in time may read: begun by its as_of (./store/pointInTime.ts backupsBegunBy).
      .whereNotExists((q) =>
        q
          .from('backup_jobs as p')
          .where({ 'p.kind': 'restore', 'p.mode': 'point_in_time' })
          .whereIn('p.status', ['pending', 'running'])
          .whereRaw(`coalesce(b.started_at, b.created_at) <= (p.scope->>'as_of')::timestamptz`),
      )
      .orderBy('b.expires_at')
      .limit(limit)
      .forUpdate()
      .skipLocked()
  );
}

export async function markBackupsRemoved(trx: Knex.Transaction, ids: string[]): Promise<void> {
  await trx('backup_jobs').whereIn('id', ids).update({ removed_at: trx.fn.now() });
}

export async function removedBackupsWithManifest(db: Knex, limit: number): Promise<Array<{ id: string; manifest_key: string | null }>> {
  return db('backup_jobs')
    .where({ kind: 'backup' })
    .whereNotNull('removed_at')
    .whereNotNull('manifest_key')
    .orderBy('id')
    .limit(limit)
    .select('id', 'manifest_key');
}

export async function clearManifestKey(db: Knex, backupId: string): Promise<void> {
  await db('backup_jobs').where({ id: backupId }).whereNotNull('removed_at').update({ manifest_key: null });
}

/** Registered manifests of backups not removed that this sweep has not marked. */
export async function unmarkedManifests(
  db: Knex | Knex.Transaction,
  sweepId: string,
): Promise<Array<{ id: string; manifest_key: string; manifest_size_bytes: number; blobs_offset: number }>> {
  return db('backup_jobs as b')
    .select('b.id', 'b.manifest_key', 'b.manifest_size_bytes', 'b.blobs_offset')
    .where('b.kind', 'backup')
    .whereNotNull('b.manifest_written_at')
    .whereNull('b.removed_at')
    .whereNotExists((q) => q.from('backup_sweep_manifests as m').where('m.sweep_id', sweepId).whereRaw('m.backup_id = b.id'))
    .orderBy('b.id');
}

export async function insertSweepMarks(db: Knex, sweepId: string, sha256s: string[]): Promise<void> {
  await db.raw(`INSERT INTO backup_sweep_marks (sweep_id, sha256) SELECT ?, unnest(?::text[]) ON CONFLICT DO NOTHING`, [sweepId, sha256s]);
}

export async function insertSweepManifest(db: Knex, sweepId: string, backupId: string): Promise<void> {
  await db('backup_sweep_manifests').insert({ sweep_id: sweepId, backup_id: backupId }).onConflict(['sweep_id', 'backup_id']).ignore();
}

export async function sweepManifestIds(db: Knex, sweepId: string): Promise<string[]> {
  return db('backup_sweep_manifests').where({ sweep_id: sweepId }).pluck('backup_id');
}

export async function backupManifestFields(
  db: Knex,
  ids: string[],
): Promise<Array<{ id: string; manifest_key: string | null; manifest_size_bytes: number | null; blobs_offset: number | null }>> {
  return db('backup_jobs').where({ kind: 'backup' }).whereIn('id', ids).select('id', 'manifest_key', 'manifest_size_bytes', 'blobs_offset');
}

export async function markedContents(trx: Knex.Transaction, sweepId: string, sha256s: string[]): Promise<string[]> {
  return trx('backup_sweep_marks').where({ sweep_id: sweepId }).whereRaw('sha256 = ANY(?::bpchar[])', [sha256s]).pluck('sha256');
}

export async function deleteSweepScratch(db: Knex, sweepId: string): Promise<void> {
  await db('backup_sweep_marks').where({ sweep_id: sweepId }).delete();
  await db('backup_sweep_manifests').where({ sweep_id: sweepId }).delete();
}

// ---------------------------------------------------------------------------------------------
// Sweep records (lib/backups/retentionSweeps.ts)

export async function knownBackupIds(db: Knex, ids: string[]): Promise<string[]> {
  return db('backup_jobs').where({ kind: 'backup' }).whereIn('id', ids).pluck('id');
}

export async function oldestBackupId(db: Knex): Promise<string | null> {
  return (await db('backup_jobs').where({ kind: 'backup' }).orderBy('id').first('id'))?.id ?? null;
}

export async function insertSweepRow(db: Knex, sweepId: string): Promise<void> {
  await db('backup_retention_sweeps').insert({ sweep_id: sweepId, status: 'running' }).onConflict('sweep_id').ignore();
}

/** Answers how many rows it refused: none when the sweep had ended. */
export async function refuseSweepRow(trx: Knex.Transaction, sweepId: string, reason: string, unknownBackups: string[]): Promise<number> {
  return trx('backup_retention_sweeps')
    .where({ sweep_id: sweepId, status: 'running' })
    .update({ status: 'refused', reason, unknown_backups: unknownBackups, finished_at: trx.fn.now() });
}

export async function endSweepRow(db: Knex, sweepId: string, status: 'completed' | 'failed', unknownBackups: string[], counts: object | undefined) {
  await db('backup_retention_sweeps')
    .where({ sweep_id: sweepId, status: 'running' })
    .update({
      status,
      unknown_backups: unknownBackups,
      counts: counts ? JSON.stringify(counts) : null,
      finished_at: db.fn.now(),
    });
}

/** The latest finished sweep that did not fail. */
export async function latestSweepRow(db: Knex) {
  return db('backup_retention_sweeps').whereNotNull('finished_at').whereNot({ status: 'failed' }).orderBy('finished_at', 'desc').first();
}

// ---------------------------------------------------------------------------------------------
// Snapshots: the manifest's and its records' cursors (lib/backups/manifest.ts, lib/backups/records.ts)

/** The snapshot's time (the transaction's start), to the microsecond. */
export async function snapshotTime(trx: Knex.Transaction): Promise<string> {
  const [{ snapshot_at }] = (await trx.raw(`SELECT ${exactTimeSql('transaction_timestamp()')} AS snapshot_at`)).rows;
  return snapshot_at;
}

export async function declareCursor(trx: Knex.Transaction, name: string, sql: string, bindings?: readonly Knex.RawBinding[]): Promise<void> {
  if (bindings) await trx.raw(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`, bindings as Knex.RawBinding[]);
  else await trx.raw(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`);
}

export async function fetchFromCursor<T>(trx: Knex.Transaction, name: string, count: number): Promise<T[]> {
  return (await trx.raw(`FETCH ${count} FROM ${name}`)).rows;
}

export async function closeCursor(trx: Knex.Transaction, name: string): Promise<void> {
  await trx.raw(`CLOSE ${name}`);
}

export const BACKUP_JOB_RECORDS_SQL = `SELECT to_jsonb(j) AS row FROM backup_jobs j ORDER BY j.kind = 'restore', j.id`;
export const RESTORE_ITEM_RECORDS_SQL = `SELECT to_jsonb(i) AS row FROM restore_items i WHERE i.status = 'failed' ORDER BY i.restore_id, i.asset_id`;

/**
 * Columns of `table` (one a record line restores: lib/backups/records.ts) that `rows` carry; generated ones left out.
 */
export async function writableColumns(trx: Knex.Transaction, table: string, rows: Array<Record<string, unknown>>): Promise<string[]> {
  const columns: string[] = await trx('information_schema.columns')
    .where({ table_name: table, is_generated: 'NEVER' })
    .whereRaw('table_schema = current_schema()')
    .pluck('column_name');
  const given = new Set(rows.flatMap((row) => Object.keys(row)));
  return columns.filter((c) => given.has(c));
}

/** The columns, quoted as identifiers, for an INSERT … SELECT. */
export function columnList(trx: Knex.Transaction, columns: string[]): string {
  return columns.map((c) => trx.raw('??', [c]).toQuery()).join(', ');
}

/**
 * INSERT … SELECT of `rows` into `table` (one a record line restores), each column as the JSON gave it; rows that
 * conflict with one there are left out. Answers the `key` of each row inserted.
 * The one writer of other families' tables outside their stores (audit_log, lifecycle_policies,
 * policy_rules, owner_quotas): a record line carries whole rows, and one generic insert restores them
 * all the same way, where four copies would differ only in the table's name.
 */
export async function insertJsonRows(trx: Knex.Transaction, table: string, rows: Array<Record<string, unknown>>, key: string): Promise<string[]> {
  if (rows.length === 0) return [];
  const list = columnList(trx, await writableColumns(trx, table, rows));
  const result = await trx.raw(
    `INSERT INTO ?? (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::??, ?::jsonb) ON CONFLICT DO NOTHING RETURNING ?? AS key`,
    [table, table, JSON.stringify(rows), key],
  );
  return (result.rows as Array<{ key: string }>).map((r) => String(r.key));
}

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

/** Backup and restore jobs by kind and status (the metrics' figures). */
export async function countJobsByKindAndStatus(db: Knex): Promise<Array<{ kind: string; status: string; n: number }>> {
  return db('backup_jobs').select('kind', 'status', db.raw('count(*)::int AS n')).groupBy('kind', 'status');
}

// ---- used by table retention (new, lib/lifecycle/tableRetention.ts) ----

/** Restores that ended (completed or failed) before `before`, over the alias `r`. */
function endedRestoresBefore(db: Knex, before: Date) {
  return db('backup_jobs as r')
    .where('r.kind', 'restore')
    .whereIn('r.status', ['completed', 'failed'])
    .whereRaw('coalesce(r.completed_at, r.updated_at) < ?', [before]);
}

/** Deletes up to `limit` item rows of restores that ended before `before`; answers how many. */
export async function deleteItemsOfEndedRestoresBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const items = db('restore_items as i')
    .select('i.restore_id', 'i.asset_id')
    .whereIn('i.restore_id', endedRestoresBefore(db, before).select('r.id'))
    .limit(limit);
  return db('restore_items').whereIn(['restore_id', 'asset_id'], items).delete();
}

/** Deletes up to `limit` restores that ended before `before` and have no item rows left; answers how many. */
export async function deleteEndedRestoresBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const restores = endedRestoresBefore(db, before)
    .select('r.id')
    .whereNotExists(db('restore_items as i').whereRaw('i.restore_id = r.id'))
    .orderBy('r.id')
    .limit(limit);
  return db('backup_jobs').whereIn('id', restores).delete();
}

/**
 * Deletes up to `limit` backups removed (their manifest deleted by the retention sweep) before `before`
 * that no restore row names (a kept restore keeps its backup's row); answers how many.
 */
export async function deleteRemovedBackupsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const backups = db('backup_jobs as b')
    .select('b.id')
    .where('b.kind', 'backup')
    .where('b.removed_at', '<', before)
    // A manifest whose deletion has not succeeded yet is retried from this row (removedBackupsWithManifest).
    .whereNull('b.manifest_key')
    .whereNotExists(db('backup_jobs as r').whereRaw('r.backup_id = b.id'))
    .orderBy('b.id')
    .limit(limit);
  return db('backup_jobs').whereIn('id', backups).delete();
}

// ---------------------------------------------------------------------------------------------
// Blob checks (issue 28): which contents of the backup bucket were hashed to their address

export interface BlobCheckRow {
  sha256: string;
  size_bytes: number;
  verified_at: Date | null;
  damaged_at: Date | null;
  damage: string | null;
}

/** The bytes at the blob's address were hashed and match it. */
export async function recordBlobVerified(db: Knex | Knex.Transaction, sha256: string, sizeBytes: number): Promise<void> {
  await db('backup_blob_checks')
    .insert({ sha256, size_bytes: sizeBytes, verified_at: db.fn.now(), damaged_at: null, damage: null })
    .onConflict('sha256')
    .merge(['size_bytes', 'verified_at', 'damaged_at', 'damage']);
}

/** The bytes at the blob's address hash to something else (or are missing): `damage` says what was found. */
export async function recordBlobDamaged(db: Knex | Knex.Transaction, sha256: string, sizeBytes: number, damage: string): Promise<void> {
  await db('backup_blob_checks')
    .insert({ sha256, size_bytes: sizeBytes, verified_at: null, damaged_at: db.fn.now(), damage })
    .onConflict('sha256')
    .merge(['size_bytes', 'verified_at', 'damaged_at', 'damage']);
}

export async function blobCheckOf(db: Knex | Knex.Transaction, sha256: string): Promise<BlobCheckRow | undefined> {
  const row = await db('backup_blob_checks').where({ sha256 }).first();
  return row && { ...row, size_bytes: Number(row.size_bytes) };
}

/** The blobs are gone from the bucket (retention deleted them): what was known of them no longer holds. */
export async function forgetBlobChecks(db: Knex | Knex.Transaction, sha256s: string[]): Promise<void> {
  if (sha256s.length) await db('backup_blob_checks').whereRaw('sha256 = ANY(?::bpchar[])', [sha256s]).delete();
}

// ---------------------------------------------------------------------------------------------
// Restore drills (issue 28): which backup a drill takes, and the proof it leaves on the backup's row

/** The newest completed backup retention has not removed, whose manifest is registered; undefined when none. */
export async function newestRestorableBackup(db: Knex): Promise<JobRow | undefined> {
  return db('backup_jobs')
    .where({ kind: 'backup', status: 'completed' })
    .whereNull('removed_at')
    .whereNotNull('manifest_key')
    .orderBy('completed_at', 'desc')
    .orderBy('id', 'desc')
    .first();
}

/** A drill passed on the backup: it is proven restorable now (in the drill's ending transaction, after its row). */
export async function stampVerifiedRestore(trx: Knex.Transaction, backupId: string, drillId: string): Promise<void> {
  await trx('backup_jobs').where({ id: backupId, kind: 'backup' }).update({ verified_restore_at: trx.fn.now(), verified_by_drill: drillId });
}

/** What /health judges restore drills by: the oldest completed, kept backup's completion, and the latest proof. */
export async function restoreProofTimes(db: Knex): Promise<{ oldest_completed_at: Date | null; last_verified_at: Date | null }> {
  const row = await db('backup_jobs')
    .where({ kind: 'backup', status: 'completed' })
    .whereNull('removed_at')
    .select(db.raw('min(completed_at) AS oldest_completed_at'), db.raw('max(verified_restore_at) AS last_verified_at'))
    .first();
  return { oldest_completed_at: row?.oldest_completed_at ?? null, last_verified_at: row?.last_verified_at ?? null };
}
