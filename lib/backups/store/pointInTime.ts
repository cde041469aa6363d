/**
 * The backup store's statements for restores to a point in time (lib/backups/pointInTime.ts), apart
 * from ../store.ts, whose invariants and lock order hold here too:
 * - such a restore is a backup_jobs row of kind 'restore' and mode 'point_in_time', backup_id NULL,
 *   its scope `{ as_of, filter, dry_run }`; its status goes as every restore's does (../store.ts);
 * - each asset it deals with is one restore_items row, written once (ON CONFLICT DO NOTHING), after the
 *   asset's own writes have committed (the upload's commit, its undeletion): a retried step finds the
 *   item and does nothing again. The item says the source; `planned` is a dry run's item that would write.
 * No statement here locks a row: an item's insert takes KEY SHARE on the restore's row by its foreign key.
 */
import type { Knex } from 'knex';

export type PointInTimeSource = 'version' | 'backup' | 'unchanged' | 'skipped';

export interface PointInTimeItemRow {
  asset_id: string;
  status: 'restored' | 'skipped' | 'failed' | 'planned';
  /** null: an item of a backup's restore (lib/backups/restore.ts), which the items list shows too. */
  source: PointInTimeSource | null;
  source_version_id: string | null;
  source_backup_id: string | null;
  sha256: string | null;
  version_id: string | null;
  undeleted: boolean;
  error: string | null;
  bytes_copied: number;
}

/** Once: a repeat leaves the first item. */
export async function insertPointInTimeItem(db: Knex | Knex.Transaction, restoreId: string, item: PointInTimeItemRow): Promise<void> {
  await db('restore_items')
    .insert({ restore_id: restoreId, ...item, versions: item.version_id ? 1 : 0, objects_copied: item.version_id ? 1 : 0, bytes_done: item.bytes_copied })
    .onConflict(['restore_id', 'asset_id'])
    .ignore();
}

const ITEM_COLUMNS = ['asset_id', 'status', 'source', 'source_version_id', 'source_backup_id', 'sha256', 'version_id', 'undeleted', 'error', 'bytes_copied'];

export async function pointInTimeItemOf(db: Knex | Knex.Transaction, restoreId: string, assetId: string): Promise<PointInTimeItemRow | undefined> {
  const row = await db('restore_items').where({ restore_id: restoreId, asset_id: assetId }).first(ITEM_COLUMNS);
  return row && { ...row, bytes_copied: Number(row.bytes_copied) };
}

/** The restore's items after `after`, by asset id. */
export async function pointInTimeItemPage(db: Knex, restoreId: string, after: string | null, limit: number): Promise<PointInTimeItemRow[]> {
  const query = db('restore_items').where({ restore_id: restoreId }).orderBy('asset_id').limit(limit).select(ITEM_COLUMNS);
  if (after) query.where('asset_id', '>', after);
  return (await query).map((row: PointInTimeItemRow) => ({ ...row, bytes_copied: Number(row.bytes_copied) }));
}

/** How many of the restore's items came from each source. */
export async function pointInTimeSourceCounts(db: Knex | Knex.Transaction, restoreId: string): Promise<Array<{ source: PointInTimeSource | null; n: number }>> {
  return db('restore_items').where({ restore_id: restoreId }).groupBy('source').select('source', db.raw('count(*)::int AS n'));
}

export interface BackupCandidate {
  id: string;
  manifest_key: string;
  manifest_size_bytes: number;
  assets_offset: number | null;
}

/**
 * Completed backups not removed whose snapshot may be at or before `asOf` (their snapshot is taken
 * after they begin: begun after `asOf`, it is not), newest first.
 */
export async function backupsBegunBy(db: Knex, asOf: Date, limit: number): Promise<BackupCandidate[]> {
  const rows = await db('backup_jobs')
    .where({ kind: 'backup', status: 'completed' })
    .whereNull('removed_at')
    .whereNotNull('manifest_key')
    .whereNotNull('manifest_sha256')
    .whereRaw('coalesce(started_at, created_at) <= ?', [asOf])
    .orderByRaw('coalesce(started_at, created_at) DESC, id DESC')
    .limit(limit)
    .select('id', 'manifest_key', 'manifest_size_bytes', 'assets_offset');
  return rows.map((r: BackupCandidate) => ({
    ...r,
    manifest_size_bytes: Number(r.manifest_size_bytes),
    assets_offset: r.assets_offset === null ? null : Number(r.assets_offset),
  }));
}
