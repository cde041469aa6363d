/**
 * What a backup of every asset holds besides the assets (issue 24): lifecycle policies with their
 * rules, quota overrides, the backup and restore history (with the assets each restore failed), and
 * the audit log. Each row is one `record` line of the manifest, between the asset lines and the blob
 * lines, every column as PostgreSQL renders it in JSON (timestamps to the microsecond), read from the
 * manifest's snapshot:
 *
 *   {"type":"record", "table":"lifecycle_policies", "row":{...every column, "rules":[...]}}
 *   {"type":"record", "table":"owner_quotas" | "backup_jobs" | "restore_items" | "audit_log", "row":{...}}
 *
 * A restore brings back what is gone and leaves alone what is there (in either mode): a record whose
 * id the catalog has is the catalog's, newer than the backup's. Audit rows come back with new ids (the
 * log is append-only: restoreAuditRows).
 */
import type { Knex } from 'knex';
import { AUDIT_LOG_RECORDS_SQL, insertAuditRowsNotPresent, lockAuditLogRestore } from '../audit/store';
import { LIFECYCLE_POLICY_RECORDS_SQL } from '../lifecycle/store';
import { OWNER_QUOTA_RECORDS_SQL } from '../quotas/store';
import {
  BACKUP_JOB_RECORDS_SQL,
  RESTORE_ITEM_RECORDS_SQL,
  closeCursor,
  columnList,
  declareCursor,
  fetchFromCursor,
  insertJsonRows,
  writableColumns,
} from './store';

export const RECORD_TABLES = ['lifecycle_policies', 'owner_quotas', 'backup_jobs', 'restore_items', 'audit_log'] as const;
export type RecordTable = (typeof RECORD_TABLES)[number];
export type RecordCounts = Record<RecordTable, number>;

export interface RecordLine {
  type: 'record';
  table: RecordTable;
  row: Record<string, unknown>;
}

/** What each table's lines hold, in the order a restore needs (a restore's row after its backup's). */
const SNAPSHOT_QUERIES: Record<RecordTable, string> = {
  lifecycle_policies: LIFECYCLE_POLICY_RECORDS_SQL,
  owner_quotas: OWNER_QUOTA_RECORDS_SQL,
  backup_jobs: BACKUP_JOB_RECORDS_SQL,
  // What GET /restores/{id} shows of a finished restore besides its row: the assets it could not restore.
  restore_items: RESTORE_ITEM_RECORDS_SQL,
  audit_log: AUDIT_LOG_RECORDS_SQL,
};

const FETCH = 1000;

/** The record lines of `trx`'s snapshot, a page at a time (the audit log may be long). */
export async function* snapshotRecords(trx: Knex.Transaction, counts: RecordCounts): AsyncGenerator<RecordLine[]> {
  for (const table of RECORD_TABLES) {
    await declareCursor(trx, 'backup_records', SNAPSHOT_QUERIES[table]);
    for (;;) {
      const rows = await fetchFromCursor<{ row: Record<string, unknown> }>(trx, 'backup_records', FETCH);
      if (rows.length === 0) break;
      counts[table] += rows.length;
      yield rows.map(({ row }) => ({ type: 'record', table, row }));
    }
    await closeCursor(trx, 'backup_records');
  }
}

export function emptyRecordCounts(): RecordCounts {
  return { lifecycle_policies: 0, owner_quotas: 0, backup_jobs: 0, restore_items: 0, audit_log: 0 };
}

/**
 * Restores one page of record lines of one table, in one transaction. Answers how many rows were
 * brought back (the others were there).
 */
export async function restoreRecords(db: Knex, table: RecordTable, rows: Array<Record<string, unknown>>): Promise<number> {
  return db.transaction(async (trx) => {
    switch (table) {
      case 'lifecycle_policies': {
        // A policy whose id is there, or whose name a live policy has taken, is left out with its rules.
        const inserted = new Set(
          await insertJsonRows(
            trx,
            table,
            rows.map(({ rules: _rules, ...policy }) => policy),
            'id',
          ),
        );
        const rules = rows.filter((p) => inserted.has(p.id as string)).flatMap((p) => p.rules as Array<Record<string, unknown>>);
        await insertJsonRows(trx, 'policy_rules', rules, 'id');
        return inserted.size;
      }
      case 'owner_quotas':
        return (await insertJsonRows(trx, table, rows, 'owner_id')).length;
      case 'restore_items':
        return (await insertJsonRows(trx, table, rows, 'asset_id')).length;
      case 'backup_jobs':
        return (await insertJsonRows(trx, table, rows, 'id')).length;
      case 'audit_log':
        return restoreAuditRows(trx, rows);
    }
  });
}

/**
 * Audit rows come back as they were but for their ids, which are new ones: the log is append-only (a
 * trigger refuses every DELETE and every change of a row), so no row this catalog wrote can make room,
 * and a list orders rows by time, the id only breaking ties. A row that is already here (same time,
 * action, outcome, actor and request) is not brought back twice, so a restore run again adds nothing;
 * restores of the log take turns on a transaction lock, so two at once cannot both add the same row.
 */
async function restoreAuditRows(trx: Knex.Transaction, rows: Array<Record<string, unknown>>): Promise<number> {
  if (rows.length === 0) return 0;
  await lockAuditLogRestore(trx);
  const withoutIds = rows.map(({ id: _id, ...row }) => row);
  const list = columnList(trx, await writableColumns(trx, 'audit_log', withoutIds));
  return insertAuditRowsNotPresent(trx, list, withoutIds);
}
