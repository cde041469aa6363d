/**
 * Backups and restores, the rows: one `backup_jobs` row per backup (kind 'backup') and per restore
 * (kind 'restore', `backup_id` naming the backup it reads), and one `restore_items` row per asset a
 * restore has dealt with. The API and the activities both read and write them through this module.
 */
import type { Knex } from 'knex';
import {
  EMPTY_BACKUP_PROGRESS,
  EMPTY_RESTORE_PROGRESS,
  backupWorkflowId,
  restoreWorkflowId,
  type BackupProgress,
  type JobStatus,
  type RestoreProgress,
} from '../../workflows/backups/definitions';

export type { BackupProgress, JobStatus, RestoreProgress };
import { ConflictError, NotFoundError } from '../platform/errors';
import { actorRef, type ActorRef } from '../auth/actor';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import {
  failedItemRows,
  failJobRow,
  insertBackupRow,
  insertRestoreRow,
  listJobRows,
  lockBackupRow,
  markJobRunning,
  restoreItemTotals,
  selectJob,
  type JobFilter,
} from './store';
import type { AssetFilter } from '../assets/store/pointInTime';
import type { RestoreMode, BackupScope, BackupCounts, RestoreScope, JobRow, BackupRow, RestoreRow } from './jobRows';

export function manifestKeyFor(backupId: string): string {
  return `manifests/${backupId}.jsonl`;
}

/** The small summary object beside the manifest: counts, bytes, the manifest's own SHA-256. */
export function summaryKeyFor(backupId: string): string {
  return `manifests/${backupId}.summary.json`;
}

/** Where a content lives in the backup bucket: its SHA-256 is its address. */
export function blobKeyFor(sha256: string): string {
  return `blobs/sha256/${sha256.slice(0, 2)}/${sha256}`;
}

export const BLOB_PREFIX = 'blobs/sha256/';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export interface BackupJson {
  id: string;
  status: JobStatus;
  label: string | null;
  scope: BackupScope;
  progress: BackupProgress;
  counts: BackupCounts | null;
  manifest_key: string | null;
  manifest_sha256: string | null;
  workflow_id: string;
  trigger: 'api' | 'schedule';
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  expires_at: string | null;
  removed_at: string | null;
  /** When a restore drill last proved the backup restorable, and which (issue 28); null until one passed. */
  verified_restore_at: string | null;
  verified_by_drill: string | null;
  error: string | null;
}

export function backupProgressOf(p: Partial<BackupProgress> | null | undefined): BackupProgress {
  return { ...EMPTY_BACKUP_PROGRESS, ...pick(p ?? {}, Object.keys(EMPTY_BACKUP_PROGRESS)) };
}

export function restoreProgressOf(p: Partial<RestoreProgress> | null | undefined): RestoreProgress {
  return { ...EMPTY_RESTORE_PROGRESS, ...pick(p ?? {}, Object.keys(EMPTY_RESTORE_PROGRESS)) };
}

function pick<T extends object>(o: T, keys: string[]): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k))) as Partial<T>;
}

/** `live` is the workflow's answer while it runs (status and progress newer than the row's). */
export function toBackupJson(row: JobRow, live?: { status: JobStatus; progress: BackupProgress }): BackupJson {
  const scope: BackupScope = { include_all_versions: row.scope.include_all_versions ?? false };
  if (row.scope.asset_ids) scope.asset_ids = row.scope.asset_ids;
  const useLive = live !== undefined && (row.status === 'pending' || row.status === 'running');
  return {
    id: row.id,
    status: useLive && live.status !== 'pending' ? live.status : row.status,
    label: row.label,
    scope,
    progress: useLive ? live.progress : backupProgressOf(row.progress),
    counts: row.counts,
    manifest_key: row.removed_at ? null : row.manifest_key,
    manifest_sha256: row.manifest_sha256,
    workflow_id: row.workflow_id,
    trigger: row.trigger,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    expires_at: iso(row.expires_at),
    removed_at: iso(row.removed_at),
    verified_restore_at: iso(row.verified_restore_at ?? null),
    verified_by_drill: row.verified_by_drill ?? null,
    error: row.error,
  };
}

export interface FailedAsset {
  asset_id: string;
  error: string;
}

export interface RestoreJson {
  id: string;
  /** null for a restore to a point in time, which reads whichever backups reach back (lib/backups/pointInTime.ts). */
  backup_id: string | null;
  status: JobStatus;
  mode: RestoreMode | 'point_in_time';
  /** A restore to a point in time: the moment and the filter (its items: lib/backups/pointInTimeJson.ts). */
  as_of?: string;
  filter?: AssetFilter;
  asset_ids: string[] | null;
  dry_run: boolean;
  progress: RestoreProgress;
  /** The assets it could not restore, with why (the first 100; lists leave it out). */
  failed_assets?: FailedAsset[];
  workflow_id: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  error: string | null;
}

export function toRestoreJson(row: JobRow, failed?: FailedAsset[], live?: { status: JobStatus; progress: RestoreProgress }): RestoreJson {
  const useLive = live !== undefined && (row.status === 'pending' || row.status === 'running');
  return {
    id: row.id,
    backup_id: row.backup_id,
    status: useLive && live.status !== 'pending' ? live.status : row.status,
    mode: row.mode!,
    ...(row.mode === 'point_in_time' ? { as_of: row.scope.as_of, filter: row.scope.filter } : {}),
    asset_ids: row.scope.asset_ids ?? null,
    dry_run: row.scope.dry_run ?? false,
    progress: useLive ? live.progress : restoreProgressOf(row.progress),
    ...(failed ? { failed_assets: failed } : {}),
    workflow_id: row.workflow_id,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    error: row.error,
  };
}

// ---------------------------------------------------------------------------------------------
// Backups

export async function insertBackup(
  db: Knex,
  backup: { id?: string; label?: string | null; scope: BackupScope; trigger: 'api' | 'schedule'; retentionDays: number; actor?: ActorRef },
): Promise<string> {
  const id = backup.id ?? uuidv7();
  // A repeated insert (a retried activity of the schedule) finds the row it made.
  await insertBackupRow(
    db,
    {
      id,
      kind: 'backup',
      status: 'pending',
      label: backup.label ?? null,
      scope: JSON.stringify(backup.scope),
      progress: JSON.stringify(EMPTY_BACKUP_PROGRESS),
      workflow_id: backupWorkflowId(id),
      trigger: backup.trigger,
      actor: backup.actor ? JSON.stringify(actorRef(backup.actor)) : null,
    },
    backup.retentionDays,
  );
  return id;
}

export async function findJob(db: Knex | Knex.Transaction, id: string, kind: 'backup' | 'restore'): Promise<JobRow | undefined> {
  return selectJob(db, id, kind);
}

export async function getBackup(db: Knex | Knex.Transaction, id: string): Promise<BackupRow> {
  const row = await findJob(db, id, 'backup');
  if (!row) throw new NotFoundError(`backup ${id} not found`);
  return row as BackupRow;
}

export async function getRestore(db: Knex | Knex.Transaction, id: string): Promise<RestoreRow> {
  const row = await findJob(db, id, 'restore');
  if (!row) throw new NotFoundError(`restore ${id} not found`);
  return row as RestoreRow;
}

type JobCursor = { id: string };

/** Newest first: job ids are UUID v7. */
export async function listJobs<T>(
  db: Knex,
  kind: 'backup' | 'restore',
  q: { limit: number; cursor?: string; backup_id?: string } & JobFilter,
  toItem: (row: JobRow) => T,
): Promise<Page<T>> {
  const cursor = decodeCursor(q.cursor, (p): p is JobCursor => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const rows = await listJobRows(db, kind, { ...q, limit: q.limit + 1, backupId: q.backup_id, beforeId: cursor?.id });
  return pageOf(rows, q.limit, toItem, (row) => ({ id: row.id }));
}

/** Marks the job running (once) and answers its row. */
export async function beginJob(db: Knex, id: string, kind: 'backup' | 'restore'): Promise<JobRow> {
  await markJobRunning(db, id, kind);
  const row = await findJob(db, id, kind);
  if (!row) throw new NotFoundError(`${kind} ${id} not found`);
  return row;
}

/** A job that stopped for good; a completed job stays completed. */
export async function failJob(db: Knex, id: string, error: string, progress?: object): Promise<void> {
  await failJobRow(db, id, error, progress);
}

// ---------------------------------------------------------------------------------------------
// Restores

/**
 * Writes the restore's row if the backup can be restored: completed and not removed by retention.
 * The backup's row is locked meanwhile, so the retention sweep cannot remove it in between (it
 * skips backups with a restore pending or running).
 */
export async function insertRestore(
  db: Knex,
  restore: { backupId: string; mode: RestoreMode; assetIds?: string[]; dryRun?: boolean; actor?: ActorRef },
): Promise<string> {
  return db.transaction(async (trx) => {
    const backup = await lockBackupRow(trx, restore.backupId);
    if (!backup) throw new NotFoundError(`backup ${restore.backupId} not found`);
    if (backup.removed_at) throw new ConflictError(`backup ${restore.backupId} was removed by retention on ${backup.removed_at.toISOString()}`);
    if (backup.status !== 'completed') throw new ConflictError(`backup ${restore.backupId} is ${backup.status}: only a completed backup can be restored`);
    const id = uuidv7();
    const scope: RestoreScope = { ...(restore.assetIds ? { asset_ids: restore.assetIds } : {}), dry_run: restore.dryRun ?? false };
    await insertRestoreRow(trx, {
      id,
      kind: 'restore',
      status: 'pending',
      backup_id: restore.backupId,
      scope: JSON.stringify(scope),
      mode: restore.mode,
      progress: JSON.stringify(EMPTY_RESTORE_PROGRESS),
      manifest_key: backup.manifest_key,
      workflow_id: restoreWorkflowId(id),
      actor: restore.actor ? JSON.stringify(actorRef(restore.actor)) : null,
    });
    return id;
  });
}

/** The restore's progress, counted from its items (each asset once, whatever was retried). */
export async function restoreItemCounts(db: Knex | Knex.Transaction, restoreId: string): Promise<Omit<RestoreProgress, 'assets_total'>> {
  const rows = await restoreItemTotals(db, restoreId);
  const n = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
  return {
    assets_done: rows.reduce((s, r) => s + r.n, 0),
    assets_restored: n('restored'),
    assets_skipped: n('skipped'),
    assets_failed: n('failed'),
    versions_restored: rows.reduce((s, r) => s + Number(r.versions ?? 0), 0),
    objects_copied: rows.reduce((s, r) => s + Number(r.objects ?? 0), 0),
    bytes_done: rows.reduce((s, r) => s + Number(r.bytes_done ?? 0), 0),
    bytes_copied: rows.reduce((s, r) => s + Number(r.bytes_copied ?? 0), 0),
  };
}

/** The first `limit` assets a restore could not restore, with why. */
export async function failedRestoreItems(db: Knex | Knex.Transaction, restoreId: string, limit = 100): Promise<FailedAsset[]> {
  return failedItemRows(db, restoreId, limit);
}
