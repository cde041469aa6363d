/** What the backup, restore and retention activities share. */
import { ApplicationFailure } from '@temporalio/common';
import { ManifestCorruptError } from '../../lib/backups/manifest';
import { DEFAULT_COPY_LIMITS, type CopyLimits } from '../../lib/platform/storedObjects';
import { NotFoundError } from '../../lib/platform/errors';
import { BackupFailure, type BackupTuning } from '../../workflows/backups/definitions';

export const DEFAULT_STEP_BUDGET_MS = 10_000;

/** Activities' permanent failures: not found, corrupt manifest. Anything else is retried. */
export async function permanent<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof NotFoundError) throw ApplicationFailure.create({ type: BackupFailure.notFound, message: err.message, nonRetryable: true });
    if (err instanceof ManifestCorruptError) throw ApplicationFailure.create({ type: BackupFailure.manifestCorrupt, message: err.message, nonRetryable: true });
    throw err;
  }
}

export function copyLimitsOf(tuning: BackupTuning | undefined): CopyLimits {
  return {
    singleCopyMaxBytes: tuning?.singleCopyMaxBytes ?? DEFAULT_COPY_LIMITS.singleCopyMaxBytes,
    partSizeBytes: tuning?.partSizeBytes ?? DEFAULT_COPY_LIMITS.partSizeBytes,
  };
}
