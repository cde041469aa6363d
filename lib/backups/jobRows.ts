/**
 * The rows of backup_jobs as the code reads them (lib/backups/store.ts writes them): one per backup and
 * per restore, with the scope, mode and counts they carry.
 */
import type { ActorRef } from '../auth/actor';
import type { AssetFilter } from '../assets/store/pointInTime';
import type { BackupProgress, JobStatus, RestoreProgress } from '../../workflows/backups/definitions';

export type RestoreMode = 'missing' | 'overwrite';

export interface BackupScope {
  /** Absent: every asset. */
  asset_ids?: string[];
  include_all_versions: boolean;
}

export interface BackupCounts {
  assets: number;
  versions: number;
  /** Distinct contents (= objects_total) and their bytes (= bytes_total). */
  blobs: number;
  bytes: number;
  /** The bytes of every version, a content counted once per version that has it. */
  version_bytes: number;
}

export interface RestoreScope {
  asset_ids?: string[];
  /** A dry run: counts what it would restore, writes no asset (absent: a restore begun before dry runs existed, a real one). */
  dry_run?: boolean;
  /** A restore to a point in time (mode point_in_time, lib/backups/pointInTime.ts): the moment, and which assets. */
  as_of?: string;
  filter?: AssetFilter;
}

export interface JobRow {
  id: string;
  kind: 'backup' | 'restore';
  status: JobStatus;
  label: string | null;
  backup_id: string | null;
  scope: BackupScope & RestoreScope;
  /** `point_in_time`: a restore to a point in time, which reads no one backup (backup_id null). */
  mode: RestoreMode | 'point_in_time' | null;
  progress: Partial<BackupProgress & RestoreProgress>;
  manifest_key: string | null;
  workflow_id: string;
  error: string | null;
  trigger: 'api' | 'schedule';
  /** Whom the job acts for; null for jobs begun before jobs recorded it. */
  actor: ActorRef | null;
  manifest_sha256: string | null;
  manifest_size_bytes: number | null;
  blobs_offset: number | null;
  assets_offset: number | null;
  /** Where the record lines begin; null for a manifest written before records existed (= blobs_offset). */
  records_offset: number | null;
  /** Set when an import registered the backup from the bucket. */
  imported_at: Date | null;
  manifest_written_at: Date | null;
  counts: BackupCounts | null;
  removed_at: Date | null;
  /** A backup's: when a restore drill last proved it restorable, and which (lib/drills/); absent in rows read from older manifests. */
  verified_restore_at?: Date | null;
  verified_by_drill?: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  expires_at: Date | null;
  updated_at: Date;
}

export type BackupRow = JobRow & { kind: 'backup' };

export type RestoreRow = JobRow & { kind: 'restore'; backup_id: string; mode: RestoreMode };

/** A restore to a point in time: no one backup; its scope says the moment and the filter. */
export type PointInTimeRow = JobRow & { kind: 'restore'; backup_id: null; mode: 'point_in_time'; scope: RestoreScope & { as_of: string; filter: AssetFilter } };
