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
 * id the catalog has is the catalog's, newer than the backup's. Audit rows keep their ids: a row this
 * catalog wrote under one of them (a catalog made again after a loss starts counting from 1) is moved
 * past them, keeping everything but its id.
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
async function insertRows(
  trx: Knex.Transaction,
  table: string,
  rows: Array<Record<string, unknown>>,
  key: string,
  opts: { overridingIdentity?: boolean } = {},
): Promise<string[]> {
  if (rows.length === 0) return [];
  const list = (await writableColumns(trx, table, rows)).map((c) => trx.raw('??', [c]).toQuery()).join(', ');
  const overriding = opts.overridingIdentity ? 'OVERRIDING SYSTEM VALUE' : '';
  const result = await trx.raw(
    `INSERT INTO ?? (${list}) ${overriding} SELECT ${list} FROM jsonb_populate_recordset(NULL::??, ?::jsonb) ON CONFLICT DO NOTHING RETURNING ?? AS key`,
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
 * Audit rows come back with their ids. Under a lock that waits for every writer of the log: the id
 * counter moves past the page's ids, rows of this catalog that hold one of them (another row: not the
 * same time and action) are moved to new ids, and the page's rows go in.
 */
async function restoreAuditRows(trx: Knex.Transaction, rows: Array<Record<string, unknown>>): Promise<number> {
  if (rows.length === 0) return 0;
  await trx.raw('LOCK TABLE audit_log IN EXCLUSIVE MODE');
  const ids = rows.map((r) => Number(r.id));
  await trx.raw(
    `SELECT setval(pg_get_serial_sequence('audit_log', 'id'),
       GREATEST((SELECT max(id) FROM audit_log), pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass), ?))`,
    [Math.max(...ids)],
  );
  const moved: Array<Record<string, unknown>> = (
    await trx.raw(
      `DELETE FROM audit_log a USING jsonb_populate_recordset(NULL::audit_log, ?::jsonb) i
        WHERE a.id = i.id AND (a.at, a.action) IS DISTINCT FROM (i.at, i.action)
       RETURNING a.id, to_jsonb(a) - 'id' - 'subjects' AS row`,
      [JSON.stringify(rows)],
    )
  ).rows
    .sort((a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id))
    .map((r: { row: Record<string, unknown> }) => r.row);
  // Without their ids they take new ones, past the page's.
  if (moved.length) await insertRows(trx, 'audit_log', moved, 'id');
  return (await insertRows(trx, 'audit_log', rows, 'id', { overridingIdentity: true })).length;
}
