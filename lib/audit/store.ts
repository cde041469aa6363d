/**
 * The store of the audit log: the only code that runs SQL against audit_log and audit_retention.
 *
 * Invariants:
 * - audit_log rows are only ever added: triggers refuse every UPDATE but a folded row's growth (its
 *   count and request_ids), every DELETE but retention's, and TRUNCATE.
 * - `fold_key` is UNIQUE: one row per minute, actor (or client address), action and outcome for
 *   repeated refusals; `request_ids` holds at most FOLDED_REQUEST_IDS ids (a CHECK).
 * - Rows leave only through storage_prune_audit_log, the function that reads audit_retention (which
 *   setup writes); the service's role may not DELETE from the table.
 *
 * Locks: none taken here. A change adds its row last in its own transaction, after the rows of the
 * change it records (lib/assets/store.ts has the order on an asset); the fold's upsert locks only the
 * row of its fold_key. A backup restore of the records (lib/backups/records.ts) inserts its rows under
 * pg_advisory_xact_lock(hashtext('storage:audit_log restore')), so two restores do not interleave.
 */
import type { Knex } from 'knex';
import { exactTimeSql } from '../platform/db';

/** Adds rows as they are. */
export async function insertAuditRows(db: Knex | Knex.Transaction, rows: Array<Record<string, unknown>>): Promise<void> {
  await db('audit_log').insert(rows);
}

/**
 * Whether a row of `action` names both the asset and the restore: a restore to a point in time asks it
 * of its own undelete (written in the undelete's transaction), which a retried attempt no longer plans.
 */
export async function restoreAuditRowExists(db: Knex | Knex.Transaction, action: string, assetId: string, restoreId: string): Promise<boolean> {
  return (await db('audit_log').where({ action, asset_id: assetId, restore_id: restoreId }).first('id')) !== undefined;
}

/**
 * Adds `row` (with its fold_key, count and request_ids), or adds its count and ids to the row of
 * its fold_key: a full row's ids (`keep` of them) are handed back as they were, so the update does
 * not write them again.
 */
export async function upsertFoldedRefusal(db: Knex, row: Record<string, unknown>, count: number, keep: number): Promise<void> {
  await db('audit_log')
    .insert(row)
    .onConflict('fold_key')
    .merge({
      count: db.raw('audit_log.count + ?', [count]),
      request_ids: db.raw(
        `CASE WHEN cardinality(audit_log.request_ids) >= ${keep} THEN audit_log.request_ids
              ELSE (COALESCE(audit_log.request_ids, '{}') || EXCLUDED.request_ids)[1:${keep}] END`,
      ),
    });
}

/** Removes up to `batch` rows past retention in one statement: answers how many went. */
export async function pruneAuditBatch(db: Knex, batch: number): Promise<number> {
  const { rows } = await db.raw<{ rows: Array<{ removed: number }> }>('SELECT storage_prune_audit_log(?) AS removed', [batch]);
  return rows[0].removed;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  subject?: string;
  outcome?: string;
  request_id?: string;
  /** Exclusive, as the API's time filters are; exact UTC times (ISO strings with microseconds), compared to the microsecond. */
  created_after?: string;
  created_before?: string;
  /** Their deprecated names: since is inclusive. */
  since?: Date;
  until?: Date;
}

/** One page of GET /audit, newest first by (at, id), before `cursor`: `limit` + 1 rows with their exact `cursor_at`. */
export async function selectAuditPage<Row>(db: Knex, q: AuditFilter & { limit: number }, cursor: { at: string; id: number } | undefined): Promise<Row[]> {
  const query = db('audit_log').select('*', db.raw(`${exactTimeSql('at')} AS cursor_at`));
  if (q.actor !== undefined) query.where('actor', q.actor);
  if (q.action !== undefined) query.where('action', q.action);
  if (q.outcome !== undefined) query.where('outcome', q.outcome);
  if (q.subject !== undefined) query.whereRaw('subjects @> ARRAY[?]::uuid[]', [q.subject]);
  if (q.request_id !== undefined) query.whereRaw('COALESCE(request_ids, ARRAY[request_id]) @> ARRAY[?]::text[]', [q.request_id]);
  if (q.since) query.where('at', '>=', q.since);
  if (q.until) query.where('at', '<', q.until);
  if (q.created_after) query.whereRaw('at > ?::timestamptz', [q.created_after]);
  if (q.created_before) query.whereRaw('at < ?::timestamptz', [q.created_before]);
  if (cursor) query.whereRaw('(at, id) < (?::timestamptz, ?::bigint)', [cursor.at, cursor.id]);
  return (await query
    .orderBy([
      { column: 'at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(q.limit + 1)) as Row[];
}

// ---- used by backups (moved from lib/backups/records.ts) ----

/** A backup's record lines of the audit log (read through a cursor in the manifest's snapshot); subjects is generated from the id columns. */
export const AUDIT_LOG_RECORDS_SQL = `SELECT to_jsonb(a) - 'subjects' AS row FROM audit_log a ORDER BY a.id`;

/** Restores of the audit log take turns on this transaction lock, so two at once cannot both add the same row. */
export async function lockAuditLogRestore(trx: Knex.Transaction): Promise<void> {
  await trx.raw("SELECT pg_advisory_xact_lock(hashtext('storage:audit_log restore'))");
}

/**
 * Inserts the audit rows (JSON, without ids) of `columnList` (quoted identifiers), but those already here (same
 * time, action, outcome, actor and request); answers how many it inserted.
 */
export async function insertAuditRowsNotPresent(trx: Knex.Transaction, columnList: string, rows: Array<Record<string, unknown>>): Promise<number> {
  const result = await trx.raw(
    `INSERT INTO audit_log (${columnList})
     SELECT ${columnList} FROM jsonb_populate_recordset(NULL::audit_log, ?::jsonb) i
      WHERE NOT EXISTS (
        SELECT 1 FROM audit_log a
         WHERE a.at = i.at AND a.action = i.action AND a.outcome IS NOT DISTINCT FROM i.outcome
           AND a.actor IS NOT DISTINCT FROM i.actor AND a.request_id IS NOT DISTINCT FROM i.request_id)
     ON CONFLICT DO NOTHING
     RETURNING id`,
    [JSON.stringify(rows)],
  );
  return result.rows.length;
}
