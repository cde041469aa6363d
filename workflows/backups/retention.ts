import { continueAsNew, patched, proxyActivities, uuid4, type ActivityOptions } from '@temporalio/workflow';
import type { RetentionActivities } from '../../activities/backups/retention';
import type { RetentionCounts, RetentionInput } from './definitions';
import { continueAsNewDue } from '../shared/continueAsNew';
import { withFailureHandler } from '../shared/failures';

// Bounded as the backup's steps are (30 attempts, about 13 minutes of backoff): a sweep still failing
// then fails, and the next backup's retention sweeps again (it deletes only what no manifest names).
const retry: ActivityOptions['retry'] = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 30 };
const catalog = proxyActivities<RetentionActivities>({ startToCloseTimeout: '2 minutes', scheduleToCloseTimeout: '30 minutes', retry });
const steps = proxyActivities<RetentionActivities>({ startToCloseTimeout: '2 hours', scheduleToCloseTimeout: '6 hours', heartbeatTimeout: '1 minute', retry });

/**
 * The retention sweep: the backup bucket is checked against the catalog first, and a catalog that was
 * lost (manifests older than every backup it knows) stops the sweep before anything is deleted; then
 * backups older than STORAGE_BACKUP_RETENTION_DAYS (past their expires_at) lose their manifest; then
 * every blob that no manifest in the bucket names is deleted (mark and sweep). Blobs of retained and
 * running backups, and of backups the catalog does not know, are never deleted
 * (lib/backups/retention.ts says why). The result says why a sweep refused, and names unknown backups.
 */
const CHECKS_BUCKET = 'retention-checks-the-backup-bucket';

export async function backupRetentionWorkflow(input: RetentionInput = {}): Promise<RetentionCounts> {
  const sweepId = input.sweepId ?? uuid4();
  const asOf = input.asOf ?? new Date().toISOString();
  const { historyLimit, actor } = input;
  const counts: RetentionCounts = input.resume?.counts ?? { backups_removed: 0, blobs_deleted: 0, bytes_freed: 0, unknown_backups: [], refused: null };
  let phase = input.resume?.phase ?? 'expire';
  let startAfter = input.resume?.startAfter ?? null;
  return withFailureHandler(
    async () => {
      // Runs begun before the check (replayed from their histories) go on without it.
      const checksBucket = patched(CHECKS_BUCKET);
      if (checksBucket && !input.resume) {
        const check = await catalog.checkBackupBucket({ sweepId });
        counts.unknown_backups = check.unknownBackups;
        counts.refused = check.refused;
        if (check.refused) {
          await catalog.clearRetentionSweep({ sweepId });
          return counts;
        }
      }
      if (phase === 'expire') {
        counts.backups_removed += (await steps.expireOldBackups({ asOf, actor })).removed;
        phase = 'mark';
      }
      if (phase === 'mark') {
        const marked = await steps.markRetainedBlobs({ sweepId, unknownBackups: counts.unknown_backups });
        if (marked.refused) {
          counts.refused = marked.refused;
          await catalog.clearRetentionSweep({ sweepId });
          return counts;
        }
        phase = 'sweep';
      }
      while (phase === 'sweep') {
        if (continueAsNewDue(historyLimit)) {
          await continueAsNew<typeof backupRetentionWorkflow>({ sweepId, asOf, historyLimit, actor, resume: { phase, startAfter, counts } });
        }
        const step = await steps.sweepUnmarkedBlobs({ sweepId, startAfter });
        counts.blobs_deleted += step.deleted;
        counts.bytes_freed += step.bytesFreed;
        startAfter = step.startAfter;
        if (step.done) phase = 'done';
      }
      await catalog.clearRetentionSweep(checksBucket ? { sweepId, outcome: { status: 'completed', counts } } : { sweepId });
      return counts;
    },
    // Its marks, kept under its id, go with a failed sweep too: no later sweep reads them.
    () => catalog.clearRetentionSweep({ sweepId, outcome: { status: 'failed' } }),
  );
}
