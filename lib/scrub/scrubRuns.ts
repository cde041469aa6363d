/**
 * Scrubs as the API starts and reads them: the row written, then scrub-{id} started acting for the
 * caller; a scrub read live from its run while it goes (lib/scrub/scrubs.ts holds the rows and their JSON).
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import { ENDED_WITHOUT_RECORDING } from '../backups/abandonedJobs';
import { actorRef, type ActorRef } from '../auth/actor';
import { ConflictError } from '../platform/errors';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import type { scrubWorkflow } from '../../workflows/scrub/scrub';
import { scrubOperation, scrubStatusQuery, scrubWorkflowId, type ScrubTuning } from '../../workflows/scrub/definitions';
import { getScrub, insertScrub, toScrubJson, type ScrubJson } from './scrubs';
import { listScrubRows, markScrubFailed, type ScrubRow } from './store';

/**
 * Refuses (409) while another scrub runs: its byte budget is per run, so two at once would read the
 * store twice as fast as STORAGE_SCRUB_MAX_BYTES_PER_SECOND allows, and act on the same findings. Each
 * row that says it runs is read through readScrub, which fails one whose run is gone. Two starts at the
 * same instant may both pass: a check, not a lock (the schedule's own starts skip an overlap).
 */
async function refuseWhileRunning(wa: WorkflowAccess): Promise<void> {
  const rows = [...(await listScrubRows(wa.db, { limit: 5, status: 'running' })), ...(await listScrubRows(wa.db, { limit: 5, status: 'pending' }))];
  for (const row of rows) {
    const now = await readScrub(wa, row.id);
    if (now.status === 'pending' || now.status === 'running')
      throw new ConflictError(`scrub ${row.id} is running: one scrub at a time (follow /api/v2/operations/${row.workflow_id})`);
  }
}

/** Writes the scrub's row (pending), then starts scrub-{id} acting for `actor`; a start that fails fails the row. 409 while one runs. */
export async function startScrub(
  wa: WorkflowAccess,
  actor: ActorRef,
  opts: { dryRun: boolean; samplePercent: number; tuning?: ScrubTuning },
): Promise<ScrubRow> {
  await refuseWhileRunning(wa);
  const id = await insertScrub(wa.db, { dryRun: opts.dryRun, samplePercent: opts.samplePercent, trigger: 'api', actor });
  try {
    await wa.client.workflow.start<typeof scrubWorkflow>('scrubWorkflow', {
      workflowId: scrubWorkflowId(id),
      taskQueue: wa.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: runSearchAttributes({ operation: scrubOperation, actor }),
      args: [{ scrubId: id, tuning: opts.tuning, actor: actorRef(actor) }],
    });
  } catch (err) {
    await markScrubFailed(wa.db, id, `the scrub could not be started: ${err instanceof Error ? err.message : String(err)}`).catch(() => {});
    throw err;
  }
  return getScrub(wa.db, id);
}

const QUERY_DEADLINE_MS = 2_000;

/** The scrub, live from its run while its row says pending or running; the row failed when its run ended without recording it. */
export async function readScrub(wa: WorkflowAccess, id: string): Promise<ScrubJson> {
  const row = await getScrub(wa.db, id);
  if (row.status !== 'pending' && row.status !== 'running') return toScrubJson(row);
  const handle = wa.client.workflow.getHandle(row.workflow_id);
  try {
    const live = await wa.client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(scrubStatusQuery));
    // Only the row says it ended: read again once the run says so.
    if (live.status === 'completed' || live.status === 'failed') return toScrubJson(await getScrub(wa.db, id));
    return toScrubJson(row, live);
  } catch {
    let ended: string | undefined;
    try {
      const status = (await handle.describe()).status.name;
      if (ENDED_WITHOUT_RECORDING.includes(status)) ended = `its workflow ${row.workflow_id} ${status.toLowerCase().replace('_', ' ')}`;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError && row.status === 'running') ended = `its workflow ${row.workflow_id} no longer exists`;
    }
    if (ended) await markScrubFailed(wa.db, id, ended);
    return toScrubJson(await getScrub(wa.db, id));
  }
}
