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
  lifecycle_policies: `SELECT to_jsonb(p) || jsonb_build_object('rules',
      (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.position), '[]'::jsonb) FROM policy_rules r WHERE r.policy_id = p.id)) AS row
    FROM lifecycle_policies p ORDER BY p.id`,
  owner_quotas: 'SELECT to_jsonb(q) AS row FROM owner_quotas q ORDER BY q.owner_id',
  backup_jobs: `SELECT to_jsonb(j) AS row FROM backup_jobs j ORDER BY j.kind = 'restore', j.id`,
  // What GET /restores/{id} shows of a finished restore besides its row: the assets it could not restore.
  restore_items: `SELECT to_jsonb(i) AS row FROM restore_items i WHERE i.status = 'failed' ORDER BY i.restore_id, i.asset_id`,
  // subjects is generated from the id columns.
  audit_log: `SELECT to_jsonb(a) - 'subjects' AS row FROM audit_log a ORDER BY a.id`,
};

const FETCH = 1000;

/** The record lines of `trx`'s snapshot, a page at a time (the audit log may be long). */
export async function* snapshotRecords(trx: Knex.Transaction, counts: RecordCounts): AsyncGenerator<RecordLine[]> {
  for (const table of RECORD_TABLES) {
    await trx.raw(`DECLARE backup_records NO SCROLL CURSOR FOR ${SNAPSHOT_QUERIES[table]}`);
    for (;;) {
      const rows: Array<{ row: Record<string, unknown> }> = (await trx.raw(`FETCH ${FETCH} FROM backup_records`)).rows;
      if (rows.length === 0) break;
      counts[table] += rows.length;
      yield rows.map(({ row }) => ({ type: 'record', table, row }));
    }
    await trx.raw('CLOSE backup_records');
  }
}

export function emptyRecordCounts(): RecordCounts {
  return { lifecycle_policies: 0, owner_quotas: 0, backup_jobs: 0, restore_items: 0, audit_log: 0 };
}

/** Columns a restore writes: the table's own that the lines carry (a line from an older schema lacks newer ones, which keep their defaults). */
async function writableColumns(trx: Knex.Transaction, table: string, rows: Array<Record<string, unknown>>): Promise<string[]> {
  const columns: string[] = await trx('information_schema.columns')
    .where({ table_name: table, is_generated: 'NEVER' })
    .whereRaw('table_schema = current_schema()')
    .pluck('column_name');
  const given = new Set(rows.flatMap((row) => Object.keys(row)));
  return columns.filter((c) => given.has(c));
}

/**
 * INSERT … SELECT of `rows` into `table`, each column as the JSON gave it; rows that conflict with
 * one there are left out. Answers the `key` of each row inserted.
 */
async function insertRows(trx: Knex.Transaction, table: string, rows: Array<Record<string, unknown>>, key: string): Promise<string[]> {
  if (rows.length === 0) return [];
  const list = (await writableColumns(trx, table, rows)).map((c) => trx.raw('??', [c]).toQuery()).join(', ');
  const result = await trx.raw(
    `INSERT INTO ?? (${list}) SELECT ${list} FROM jsonb_populate_recordset(NULL::??, ?::jsonb) ON CONFLICT DO NOTHING RETURNING ?? AS key`,
    [table, table, JSON.stringify(rows), key],
  );
  return (result.rows as Array<{ key: string }>).map((r) => String(r.key));
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
          await insertRows(
            trx,
            table,
            rows.map(({ rules: _rules, ...policy }) => policy),
            'id',
          ),
        );
        const rules = rows.filter((p) => inserted.has(p.id as string)).flatMap((p) => p.rules as Array<Record<string, unknown>>);
        await insertRows(trx, 'policy_rules', rules, 'id');
        return inserted.size;
      }
      case 'owner_quotas':
        return (await insertRows(trx, table, rows, 'owner_id')).length;
      case 'restore_items':
        return (await insertRows(trx, table, rows, 'asset_id')).length;
      case 'backup_jobs':
        return (await insertRows(trx, table, rows, 'id')).length;
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
  await trx.raw("SELECT pg_advisory_xact_lock(hashtext('storage:audit_log restore'))");
  const withoutIds = rows.map(({ id: _id, ...row }) => row);
  const list = (await writableColumns(trx, 'audit_log', withoutIds)).map((c) => trx.raw('??', [c]).toQuery()).join(', ');
  const result = await trx.raw(
    `INSERT INTO audit_log (${list})
     SELECT ${list} FROM jsonb_populate_recordset(NULL::audit_log, ?::jsonb) i
      WHERE NOT EXISTS (
        SELECT 1 FROM audit_log a
         WHERE a.at = i.at AND a.action = i.action AND a.outcome IS NOT DISTINCT FROM i.outcome
           AND a.actor IS NOT DISTINCT FROM i.actor AND a.request_id IS NOT DISTINCT FROM i.request_id)
     ON CONFLICT DO NOTHING
     RETURNING id`,
    [JSON.stringify(withoutIds)],
  );
  return result.rows.length;
}
