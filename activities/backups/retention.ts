/**
 * Retention activities (lib/backups/retention.ts has the rule that keeps it safe): the backup bucket is
 * checked against the catalog first (lib/backups/retentionSweeps.ts: a lost catalog stops the sweep),
 * then expired backups lose their manifest, then every blob no manifest in the bucket names is
 * deleted (mark and sweep).
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import { failAbandonedJobs } from '../../lib/backups/abandonedJobs';
import { manifestKeyFor, summaryKeyFor } from '../../lib/backups/catalog';
import { deleteKeys } from '../../lib/platform/storedObjects';
import { clearSweep, expireBackups, forgetManifest, markBucketManifests, markManifests, sweepBlobPage } from '../../lib/backups/retention';
import { beginSweepRecord, checkBucketAgainstCatalog, endSweepRecord, refuseSweep } from '../../lib/backups/retentionSweeps';
import type { RetentionCounts } from '../../workflows/backups/definitions';
import type { ActivityDeps } from '../deps';
import { auditWriterOf, runActorOf } from '../../lib/audit/log';
import type { ActorRef } from '../../workflows/shared/actor';

const STEP_BUDGET_MS = 20_000;

type RetentionDeps = Pick<ActivityDeps, 'config' | 'db' | 's3' | 'logger'>;

export interface SweepPosition {
  startAfter: string | null;
  deleted: number;
  bytesFreed: number;
  done: boolean;
}

export function createRetentionActivities(deps: ActivityDeps) {
  return {
    checkBackupBucket: (input: { sweepId: string }) => checkBackupBucket(deps, input),
    expireOldBackups: (input: { asOf: string; actor?: ActorRef }) => expireOldBackups(deps, input),
    markRetainedBlobs: (input: { sweepId: string; unknownBackups?: string[] }) => markRetainedBlobs(deps, input),
    sweepUnmarkedBlobs: (input: { sweepId: string; startAfter: string | null }) => sweepUnmarkedBlobs(deps, input),
    clearRetentionSweep: (input: { sweepId: string; outcome?: { status: 'completed' | 'failed'; counts?: RetentionCounts } }) =>
      clearRetentionSweep(deps, input),
  };
}

/**
 * Records the sweep as begun and compares the bucket's manifests with the catalog's backups:
 * answers the backups the catalog does not know, and why the sweep refuses to run, if it does
 * (recorded, with its event).
 */
async function checkBackupBucket(
  { config, db, s3, logger }: RetentionDeps,
  input: { sweepId: string },
): Promise<{ unknownBackups: string[]; refused: string | null }> {
  await beginSweepRecord(db, input.sweepId);
  const check = await checkBucketAgainstCatalog(db, s3, config.s3.backupBucket);
  if (check.unknownBackups.length) logger.warn('backups the catalog does not know: kept', { sweep_id: input.sweepId, backup_ids: check.unknownBackups });
  if (check.refused) {
    await refuseSweep(db, input.sweepId, { ...check, refused: check.refused });
    logger.error('backup retention refused', { sweep_id: input.sweepId, reason: check.refused });
  }
  return check;
}

/** Temporal's status of the run, over the worker's connection; undefined when it has no such run. */
async function runStatusOf(workflowId: string): Promise<string | undefined> {
  try {
    return (await Context.current().client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Removes backups past their expires_at (as of `asOf`): each is marked removed (no restore can
 * start from it), then its manifest and summary are deleted. Answers how many were removed. First,
 * open jobs whose run will never end them are marked failed (lib/backups/abandonedJobs.ts): an
 * abandoned restore would keep its backup for ever.
 */
async function expireOldBackups({ config, db, s3, logger }: RetentionDeps, input: { asOf: string; actor?: ActorRef }): Promise<{ removed: number }> {
  const ctx = Context.current();
  const audit = auditWriterOf(config.audit.enabled);
  // Temporal out of reach leaves them for the next sweep: expiry goes on.
  await failAbandonedJobs(db, runStatusOf, logger).catch((err) => logger.warn('abandoned jobs not checked', { error: (err as Error).message }));
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
      await deleteKeys(s3, config.s3.backupBucket, [b.manifest_key ?? manifestKeyFor(b.id), summaryKeyFor(b.id)]);
      await forgetManifest(db, b.id);
      logger.info('backup removed by retention', { backup_id: b.id });
    }
    ctx.heartbeat({ removed });
  }
}

/**
 * Marks the blobs of every manifest in the bucket, and of every one the catalog registered. A
 * manifest that cannot be read names blobs nobody knows: the sweep refuses (recorded, with its event).
 */
async function markRetainedBlobs(
  { config, db, s3, logger }: RetentionDeps,
  input: { sweepId: string; unknownBackups?: string[] },
): Promise<{ manifests: number; refused?: string | null }> {
  const ctx = Context.current();
  const beat = () => ctx.heartbeat();
  const backupBucket = config.s3.backupBucket;
  const bucket = await markBucketManifests(db, s3, backupBucket, input.sweepId, beat);
  const manifests = bucket.manifests + (await markManifests(db, s3, backupBucket, input.sweepId, beat));
  if (bucket.unreadable.length === 0) return { manifests, refused: null };
  const refused = `the backup bucket holds manifests that cannot be read, whose blobs are unknown: ${bucket.unreadable.join('; ')}. Retention deletes nothing until they are repaired or removed`;
  await refuseSweep(db, input.sweepId, { unknownBackups: input.unknownBackups ?? [], refused });
  logger.error('backup retention refused', { sweep_id: input.sweepId, reason: refused });
  return { manifests, refused };
}

/**
 * Deletes unmarked blobs page by page from `startAfter` until the listing ends or the step budget
 * is spent; heartbeats the position and resumes from it after a retry.
 */
async function sweepUnmarkedBlobs({ config, db, s3 }: RetentionDeps, input: { sweepId: string; startAfter: string | null }): Promise<SweepPosition> {
  const ctx = Context.current();
  const resumed = ctx.info.heartbeatDetails as { startAfter?: string | null; deleted?: number; bytesFreed?: number } | undefined;
  let startAfter = resumed?.startAfter !== undefined ? resumed.startAfter : input.startAfter;
  let deleted = resumed?.deleted ?? 0;
  let bytesFreed = resumed?.bytesFreed ?? 0;
  const deadline = Date.now() + STEP_BUDGET_MS;
  for (;;) {
    const page = await sweepBlobPage(db, s3, config.s3.backupBucket, input.sweepId, startAfter);
    deleted += page.deleted;
    bytesFreed += page.bytesFreed;
    startAfter = page.startAfter;
    ctx.heartbeat({ startAfter, deleted, bytesFreed });
    if (startAfter === null) return { startAfter, deleted, bytesFreed, done: true };
    if (Date.now() >= deadline) return { startAfter, deleted, bytesFreed, done: false };
  }
}

/** Drops the sweep's marks; with `outcome`, records how it ended (a refused sweep is recorded already). */
async function clearRetentionSweep(
  { db }: RetentionDeps,
  input: { sweepId: string; outcome?: { status: 'completed' | 'failed'; counts?: RetentionCounts } },
): Promise<void> {
  await clearSweep(db, input.sweepId);
  if (input.outcome) await endSweepRecord(db, input.sweepId, { ...input.outcome, unknownBackups: input.outcome.counts?.unknown_backups });
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
