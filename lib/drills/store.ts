/**
 * The store of restore drills: the only code that runs SQL against restore_drills.
 *
 * Invariants:
 * - one row per drill, inserted once (ON CONFLICT DO NOTHING: a repeated start, a retried scheduled step, finds it).
 *   Status goes pending → running → passed | failed; `beginDrillRow` only from pending, `endDrillRow` only from
 *   pending or running, so a drill ends once and a retried end changes nothing.
 * - `sample` is written once, by the step that begins the drill (its backup chosen then too), and holds at most
 *   STORAGE_RESTORE_DRILL_SAMPLE_ASSETS entries: what is checked, never the manifest.
 * - `next_index` only grows, in the statement that adds that asset's counts and failures (`recordDrillAsset`,
 *   guarded by the index it expects): a retried step that checked an asset again adds nothing twice.
 * - the backup a drill names may go (table retention): its `backup_id` is then null, the drill's history stays.
 *
 * Lock order: each statement is one drill's row, in no other family's transaction, except the end of a drill:
 * its row updated first (`endDrillRow`), then its backup's row stamped (lib/backups/store.ts
 * `stampVerifiedRestore`), its event, its audit row, in that order and in one transaction. Nothing here locks
 * an asset's rows, so drills stay outside the asset lock order.
 */
import type { Knex } from 'knex';
import type { ActorRef } from '../../workflows/shared/actor';

export type DrillStatus = 'pending' | 'running' | 'passed' | 'failed';

export interface DrillFailure {
  asset_id: string;
  version_id: string | null;
  reason: string;
}

/** One sampled asset: its lines lie at bytes [start, end) of the manifest. */
export interface DrillSampleEntry {
  asset_id: string;
  start: number;
  end: number;
  bytes: number;
}

export interface DrillRow {
  id: string;
  status: DrillStatus;
  backup_id: string | null;
  trigger: 'api' | 'schedule';
  actor: ActorRef | null;
  workflow_id: string;
  sample: DrillSampleEntry[] | null;
  next_index: number;
  assets_total: number;
  assets_checked: number;
  bytes_checked: number;
  failures: DrillFailure[];
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

function rowOf(raw: DrillRow | undefined): DrillRow | undefined {
  return raw && { ...raw, bytes_checked: Number(raw.bytes_checked) };
}

export async function insertDrillRow(db: Knex, row: Pick<DrillRow, 'id' | 'backup_id' | 'trigger' | 'actor' | 'workflow_id'>): Promise<void> {
  await db('restore_drills')
    .insert({ ...row, actor: row.actor ? JSON.stringify(row.actor) : null })
    .onConflict('id')
    .ignore();
}

export async function selectDrill(db: Knex | Knex.Transaction, id: string): Promise<DrillRow | undefined> {
  return rowOf(await db('restore_drills').where({ id }).first());
}

/** Newest first (ids are UUID v7), `limit` rows from before `beforeId`. */
export async function listDrillRows(db: Knex, q: { limit: number; beforeId?: string; backupId?: string; status?: DrillStatus }): Promise<DrillRow[]> {
  const query = db('restore_drills').orderBy('id', 'desc').limit(q.limit);
  if (q.beforeId) query.where('id', '<', q.beforeId);
  if (q.backupId) query.where({ backup_id: q.backupId });
  if (q.status) query.where({ status: q.status });
  return (await query).map((r: DrillRow) => rowOf(r)!);
}

/** The drill begins: its backup and its sample, once. Answers whether this call began it. */
export async function beginDrillRow(db: Knex, id: string, backupId: string, sample: DrillSampleEntry[]): Promise<boolean> {
  const n = await db('restore_drills')
    .where({ id, status: 'pending' })
    .update({
      status: 'running',
      backup_id: backupId,
      sample: JSON.stringify(sample),
      assets_total: sample.length,
      started_at: db.fn.now(),
      updated_at: db.fn.now(),
    });
  return n > 0;
}

/** One sampled asset checked: its bytes and failures added, the position moved past it, once. */
export async function recordDrillAsset(db: Knex, id: string, index: number, bytes: number, failures: DrillFailure[]): Promise<void> {
  await db('restore_drills')
    .where({ id, next_index: index, status: 'running' })
    .update({
      next_index: index + 1,
      assets_checked: db.raw('assets_checked + 1'),
      bytes_checked: db.raw('bytes_checked + ?', [bytes]),
      failures: db.raw(`failures || ?::jsonb`, [JSON.stringify(failures)]),
      updated_at: db.fn.now(),
    });
}

/** The drill ends, once: answers the row as ended, or undefined when it had ended already. */
export async function endDrillRow(trx: Knex.Transaction, id: string, status: 'passed' | 'failed', error: string | null): Promise<DrillRow | undefined> {
  const [row] = await trx('restore_drills')
    .where({ id })
    .whereIn('status', ['pending', 'running'])
    .update({ status, error, completed_at: trx.fn.now(), updated_at: trx.fn.now() })
    .returning('*');
  return rowOf(row);
}

/** Of `ids`, the drills still going: pending or running, their row changed since `since`. */
export async function liveDrillIds(db: Knex, ids: string[], since: Date): Promise<string[]> {
  const rows = await db('restore_drills').select('id').whereIn('id', ids).whereIn('status', ['pending', 'running']).where('updated_at', '>=', since);
  return rows.map((r: { id: string }) => r.id);
}

/** Table retention: ended drills completed before `before`, `limit` at a time. */
export async function deleteEndedDrillsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  const ids = db('restore_drills').select('id').whereIn('status', ['passed', 'failed']).where('completed_at', '<', before).orderBy('completed_at').limit(limit);
  return db('restore_drills').whereIn('id', ids).delete();
}
