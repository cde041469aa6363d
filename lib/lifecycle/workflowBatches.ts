/**
 * The phases the workflow acts on itself (uploads: each old session's workflow is told to abort;
 * purge: each old soft-deleted asset goes through deleteAssetWorkflow): the activity hands it a batch
 * and the position after it, and records what it did with the batch once it is done.
 */
import type { Knex } from 'knex';
import { deleteAssetWorkflowId } from '../../workflows/assets/definitions';
import { purgeCandidates, uploadCandidates, type PurgeCandidate, type TimeCursor, type UploadCandidate } from './candidates';
import { insertRunItems, type RunItemRow } from './store';
import { commitBatch, getRun, startedRun } from './runRows';
import { nextPhase, type LifecycleCounts, type LifecyclePhase, type SweepPlan } from './runs';

/** What a workflow-driven phase (uploads, purge) does next: a batch to act on, or nothing left. */
export type WorkflowBatch<T> = { phase: LifecyclePhase; dryRun: boolean; step: number; cursor: TimeCursor; items: T[] } | { phase: LifecyclePhase; done: true };

/** Sessions and assets a workflow acts on go in batches of at most this many (they become history events). */
export const WORKFLOW_BATCH = 50;

async function workflowBatch<T>(
  db: Knex,
  runId: string,
  phase: 'uploads' | 'purge',
  limit: number,
  pick: (plan: SweepPlan, asOf: Date, after: TimeCursor | null, limit: number) => Promise<Array<{ at: string; id: string; item: T }> | undefined>,
  runItemOf: (item: T) => RunItemRow,
): Promise<WorkflowBatch<T>> {
  const run = await getRun(db, runId);
  if (run.phase !== phase) return { phase: run.phase, done: true };
  const { plan, asOf } = startedRun(run);
  const rows = await pick(plan, asOf, run.cursor as TimeCursor | null, Math.min(run.batch_size, limit));
  if (!rows?.length) {
    await commitBatch(db, run, { cursor: null, phaseDone: true });
    return { phase: nextPhase(phase), done: true };
  }
  // A dry run's batch is all it will know of these: what it would do with each is recorded as it is handed out.
  if (run.dry_run)
    await insertRunItems(
      db,
      run.id,
      rows.map((r) => runItemOf(r.item)),
    );
  const last = rows[rows.length - 1];
  return { phase, dryRun: run.dry_run, step: run.step, cursor: { at: last.at, id: last.id }, items: rows.map((r) => r.item) };
}

export function nextUploadBatch(db: Knex, runId: string): Promise<WorkflowBatch<UploadCandidate>> {
  return workflowBatch(
    db,
    runId,
    'uploads',
    WORKFLOW_BATCH,
    async (plan, asOf, after, limit) =>
      (await uploadCandidates(db, plan, asOf, after, limit))?.map((r) => ({ at: r.at, id: r.id, item: { uploadId: r.id, workflowId: r.workflow_id } })),
    (session) => ({ action: 'abort_upload', item_id: session.uploadId, asset_id: null, size_bytes: null }),
  );
}

export function nextPurgeBatch(db: Knex, runId: string): Promise<WorkflowBatch<PurgeCandidate>> {
  return workflowBatch(
    db,
    runId,
    'purge',
    WORKFLOW_BATCH,
    async (plan, asOf, after, limit) =>
      (await purgeCandidates(db, plan, asOf, after, limit))?.map((r) => ({
        at: r.at,
        id: r.id,
        item: { assetId: r.id, workflowId: deleteAssetWorkflowId(r.id), sizeBytes: r.size_bytes, deletedAt: r.at },
      })),
    (asset) => ({ action: 'purge_asset', item_id: asset.assetId, asset_id: asset.assetId, size_bytes: asset.sizeBytes }),
  );
}

/** Records what the workflow did with a batch it was given; a repeat of the same batch changes nothing. */
export async function commitWorkflowBatch(
  db: Knex,
  runId: string,
  batch: { phase: 'uploads' | 'purge'; step: number; cursor: TimeCursor; counts: Partial<LifecycleCounts> },
): Promise<boolean> {
  return commitBatch(db, { id: runId, step: batch.step, phase: batch.phase }, { cursor: batch.cursor, counts: batch.counts });
}
