/**
 * The contract of the backup, restore and retention workflows: inputs, queries and failure types.
 * Only @temporalio/workflow is imported (and types), so the workflow bundle, the activities and the
 * API all use this file.
 */
import { defineQuery } from '@temporalio/workflow';
import type { ActsFor } from '../shared/actor';

/** A backup's or a restore's status, as its row and the API say it. */
export type JobStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface BackupProgress {
  /** Objects are the distinct contents the backup holds (a content shared by several versions counts once). */
  objects_total: number;
  objects_done: number;
  bytes_total: number;
  bytes_done: number;
  /** Bytes actually copied by this backup: 0 for an incremental backup of unchanged assets. */
  bytes_copied: number;
}

export interface RestoreProgress {
  assets_total: number;
  assets_done: number;
  assets_restored: number;
  assets_skipped: number;
  assets_failed: number;
  /** Version rows written back, and (apart) objects written back: a version whose row is there may lack only its object. */
  versions_restored: number;
  objects_copied: number;
  bytes_done: number;
  bytes_copied: number;
}

/** What a backup or restore has done before it starts: the row's first progress and the run's. */
export const EMPTY_BACKUP_PROGRESS: BackupProgress = { objects_total: 0, objects_done: 0, bytes_total: 0, bytes_done: 0, bytes_copied: 0 };
export const EMPTY_RESTORE_PROGRESS: RestoreProgress = {
  assets_total: 0,
  assets_done: 0,
  assets_restored: 0,
  assets_skipped: 0,
  assets_failed: 0,
  versions_restored: 0,
  objects_copied: 0,
  bytes_done: 0,
  bytes_copied: 0,
};

/** Knobs with production defaults; tests make batches small to watch a backup mid-way. */
export interface BackupTuning {
  /** Blobs (backup) or assets (restore) handled between two heartbeats (default 16 / 8). */
  batchSize?: number;
  /** An activity call returns after about this long, so progress reaches the workflow (default 10 s). */
  stepBudgetMs?: number;
  /** Continue as new once the history has this many events (default 2000). */
  historyLimit?: number;
  /** Objects larger than this copy by parts (default 5 GiB), in parts of this size (default 512 MiB). */
  singleCopyMaxBytes?: number;
  partSizeBytes?: number;
}

export type BackupPhase = 'manifest' | 'copy' | 'complete';

export interface BackupInput extends ActsFor {
  backupId: string;
  tuning?: BackupTuning;
  /** Carried across continue-as-new. */
  resume?: { phase: BackupPhase; cursor: number; progress: BackupProgress };
}

export interface BackupState {
  status: JobStatus;
  phase: BackupPhase;
  progress: BackupProgress;
  error: string | null;
}

/**
 * How the storage-backup schedule takes a failed backup again (STORAGE_BACKUP_ATTEMPTS,
 * STORAGE_BACKUP_RETRY_DELAY_SECONDS, STORAGE_BACKUP_RETRY_WINDOW_HOURS): at most `attempts` backups,
 * `delaySeconds` apart, none begun more than `windowHours` after the scheduled run began.
 */
export interface ScheduledBackupRetry {
  attempts: number;
  delaySeconds: number;
  windowHours: number;
}

export interface BackupResult {
  backupId: string;
  status: JobStatus;
  progress: BackupProgress;
}

export interface RestoreInput extends ActsFor {
  restoreId: string;
  tuning?: BackupTuning;
  resume?: { cursor: number; end: number; assetsTotal: number };
}

export interface RestoreState {
  status: JobStatus;
  progress: RestoreProgress;
  error: string | null;
}

export interface RetentionInput extends ActsFor {
  /** The sweep's id (its marks are kept under it); made by the workflow when absent. */
  sweepId?: string;
  /** Backups whose expires_at is at or before this are removed (default: the workflow's now). */
  asOf?: string;
  historyLimit?: number;
  resume?: { phase: RetentionPhase; startAfter: string | null; counts: RetentionCounts };
}

export type RetentionPhase = 'expire' | 'mark' | 'sweep' | 'done';

export interface RetentionCounts {
  backups_removed: number;
  blobs_deleted: number;
  bytes_freed: number;
  /** Backups whose manifest the bucket holds and the catalog does not know (the first 100): kept, with their blobs. */
  unknown_backups: string[];
  /** Why the sweep deleted nothing at all (the catalog lost, a manifest unreadable); null when it ran. */
  refused: string | null;
}

export const backupStatusQuery = defineQuery<BackupState>('backupStatus');
export const restoreStatusQuery = defineQuery<RestoreState>('restoreStatus');

/** Failure types the activities raise and do not retry. */
export const BackupFailure = {
  notFound: 'BackupJobNotFound',
  manifestCorrupt: 'BackupManifestCorrupt',
  sourceMissing: 'BackupSourceMissing',
  sourceCorrupt: 'BackupSourceCorrupt',
  incomplete: 'BackupIncomplete',
  /** Its row failed (the run cancelled) before its completion step could complete it: it stays failed. */
  ended: 'BackupEnded',
  restoreIncomplete: 'RestoreIncomplete',
  scheduledBackupFailed: 'ScheduledBackupFailed',
} as const;

/** A backup's and a restore's workflows are named after them; a scheduled retention sweep after its backup. */
export function backupWorkflowId(backupId: string): string {
  return `backup-${backupId}`;
}

export function restoreWorkflowId(restoreId: string): string {
  return `restore-${restoreId}`;
}

export function retentionWorkflowId(sweepId: string): string {
  return `backup-retention-${sweepId}`;
}

/** The StorageOperation search attribute of each kind of run (and of the backup schedule's). */
export const backupOperation = 'backup';
export const restoreOperation = 'restore';
export const retentionOperation = 'backup-retention';
