import { continueAsNew, proxyActivities, uuid4, type ActivityOptions } from '@temporalio/workflow';
import type { RetentionActivities } from '../../activities/backups/retention';
import type { RetentionCounts, RetentionInput } from './definitions';
import { continueAsNewDue, withFailureHandler } from '../runHelpers';

const retry: ActivityOptions['retry'] = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' };
const catalog = proxyActivities<RetentionActivities>({ startToCloseTimeout: '2 minutes', retry });
const steps = proxyActivities<RetentionActivities>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '1 minute', retry });

/**
 * The retention sweep: backups older than STORAGE_BACKUP_RETENTION_DAYS (past their expires_at) lose
 * their manifest first; then every blob that no retained manifest names is deleted (mark and sweep).
 * Blobs of retained and running backups are never deleted (lib/backups/retention.ts says why).
 */
export async function backupRetentionWorkflow(input: RetentionInput = {}): Promise<RetentionCounts> {
  const sweepId = input.sweepId ?? uuid4();
  const asOf = input.asOf ?? new Date().toISOString();
  const { historyLimit, actor } = input;
  const counts: RetentionCounts = input.resume?.counts ?? { backups_removed: 0, blobs_deleted: 0, bytes_freed: 0 };
  let phase = input.resume?.phase ?? 'expire';
  let startAfter = input.resume?.startAfter ?? null;
  return withFailureHandler(
    async () => {
      if (phase === 'expire') {
        counts.backups_removed += (await steps.expireOldBackups({ asOf, actor })).removed;
        phase = 'mark';
      }
      if (phase === 'mark') {
        await steps.markRetainedBlobs({ sweepId });
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
      await catalog.clearRetentionSweep({ sweepId });
      return counts;
    },
    // Its marks, kept under its id, go with a failed sweep too: no later sweep reads them.
    () => catalog.clearRetentionSweep({ sweepId }),
  );
}
