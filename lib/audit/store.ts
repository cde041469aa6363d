/**
 * The store of the audit log: the only code that runs SQL against audit_log and audit_retention.
 */
export {};

// ---- used by backups (moved from lib/backups/records.ts) ----
import type { Knex as BackupsKnex } from 'knex';

/** A backup's record lines of the audit log (read through a cursor in the manifest's snapshot); subjects is generated from the id columns. */
export const AUDIT_LOG_RECORDS_SQL = `SELECT to_jsonb(a) - 'subjects' AS row FROM audit_log a ORDER BY a.id`;

/** Restores of the audit log take turns on this transaction lock, so two at once cannot both add the same row. */
export async function lockAuditLogRestore(trx: BackupsKnex.Transaction): Promise<void> {
  await trx.raw("SELECT pg_advisory_xact_lock(hashtext('storage:audit_log restore'))");
}

/**
 * Inserts the audit rows (JSON, without ids) of `columnList` (quoted identifiers), but those already here (same
 * time, action, outcome, actor and request); answers how many it inserted.
 */
export async function insertAuditRowsNotPresent(trx: BackupsKnex.Transaction, columnList: string, rows: Array<Record<string, unknown>>): Promise<number> {
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
