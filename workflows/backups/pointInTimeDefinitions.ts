/**
 * The contract of pointInTimeRestoreWorkflow (restore-{restore_id}, a restore to a point in time):
 * its input, the steps' answers. It answers the restores' query (restoreStatusQuery of ./definitions),
 * so a restore is read the same way whichever kind it is. Only types, so the workflow bundle, the
 * activities and the API all use this file.
 */
import type { ActsFor } from '../shared/actor';
import type { UploadInput } from '../uploads/definitions';
import type { RestoreProgress } from './definitions';
import type { PointInTimeItemRow } from '../../lib/backups/store/pointInTime';

export interface PointInTimeInput extends ActsFor {
  restoreId: string;
  /** Continue as new once the history has this many events (default 2000; tests make it small). */
  historyLimit?: number;
  /** Carried across continue-as-new: the last asset id dealt with. */
  resume?: { after: string | null };
}

/**
 * An asset the step planned to write: the copy upload that makes its new version (null when its
 * upload exists already: only its item is left to record) and its item as planned (ids and a
 * checksum), which the upload's outcome completes.
 */
export interface PointInTimeWrite {
  assetId: string;
  uploadId: string;
  upload: UploadInput | null;
  item: PointInTimeItemRow;
}

export interface PointInTimeStep {
  writes: PointInTimeWrite[];
  /** The last asset id of the page; null when the filter matches no more. */
  next: string | null;
  progress: RestoreProgress;
}
