/**
 * Retention activities (lib/backups/retention.ts has the rule that keeps it safe): expired backups lose
 * their manifest first, then every blob no retained manifest names is deleted (mark and sweep).
 */
import { Context } from '@temporalio/activity';
import { manifestKeyFor, summaryKeyFor } from '../../lib/backups/catalog';
import { deleteKeys } from '../../lib/platform/objects';
import { clearSweep, expireBackups, forgetManifest, markManifests, sweepBlobPage } from '../../lib/backups/retention';
import type { ActivityDeps } from '../deps';
import { auditWriterOf, runActorOf } from '../../lib/audit/log';
import type { ActorRef } from '../../workflows/actor';

const STEP_BUDGET_MS = 20_000;

export function createRetentionActivities({ config, db, s3, logger }: ActivityDeps) {
  const backupBucket = config.s3.backupBucket;
  const audit = auditWriterOf(config.audit.enabled);
  return {
    /**
     * Removes backups past their expires_at (as of `asOf`): each is marked removed (no restore can
     * start from it), then its manifest and summary are deleted. Answers how many were removed.
     */
    async expireOldBackups(input: { asOf: string; actor?: ActorRef }): Promise<{ removed: number }> {
      const ctx = Context.current();
      let removed = 0;
      for (;;) {
        const { marked, manifests } = await expireBackups(db, new Date(input.asOf), (trx, backupIds) =>
          audit(
            trx,
            backupIds.map((backupId) => ({
              actor: runActorOf(input),
              action: 'backup.expire',
              outcome: 'completed',
              subjects: { backup_id: backupId },
              requestId: ctx.info.workflowExecution?.workflowId,
            })),
          ),
        );
        removed += marked;
        if (marked === 0 && manifests.length === 0) return { removed };
        for (const b of manifests) {
          await deleteKeys(s3, backupBucket, [b.manifest_key ?? manifestKeyFor(b.id), summaryKeyFor(b.id)]);
          await forgetManifest(db, b.id);
          logger.info('backup removed by retention', { backup_id: b.id });
        }
        ctx.heartbeat({ removed });
      }
    },

    /** Marks the blobs of every retained manifest (completed backups not removed, running ones). */
    async markRetainedBlobs(input: { sweepId: string }): Promise<{ manifests: number }> {
      const ctx = Context.current();
      const manifests = await markManifests(db, s3, backupBucket, input.sweepId, () => ctx.heartbeat());
      return { manifests };
    },

    /**
     * Deletes unmarked blobs page by page from `startAfter` until the listing ends or the step budget
     * is spent; heartbeats the position and resumes from it after a retry.
     */
    async sweepUnmarkedBlobs(input: {
      sweepId: string;
      startAfter: string | null;
    }): Promise<{ startAfter: string | null; deleted: number; bytesFreed: number; done: boolean }> {
      const ctx = Context.current();
      const resumed = ctx.info.heartbeatDetails as { startAfter?: string | null; deleted?: number; bytesFreed?: number } | undefined;
      let startAfter = resumed?.startAfter !== undefined ? resumed.startAfter : input.startAfter;
      let deleted = resumed?.deleted ?? 0;
      let bytesFreed = resumed?.bytesFreed ?? 0;
      const deadline = Date.now() + STEP_BUDGET_MS;
      for (;;) {
        const page = await sweepBlobPage(db, s3, backupBucket, input.sweepId, startAfter);
        deleted += page.deleted;
        bytesFreed += page.bytesFreed;
        startAfter = page.startAfter;
        ctx.heartbeat({ startAfter, deleted, bytesFreed });
        if (startAfter === null) return { startAfter, deleted, bytesFreed, done: true };
        if (Date.now() >= deadline) return { startAfter, deleted, bytesFreed, done: false };
      }
    },

    async clearRetentionSweep(input: { sweepId: string }): Promise<void> {
      await clearSweep(db, input.sweepId);
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
