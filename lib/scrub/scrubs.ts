/**
 * The API's side of scrubs: start one (its row, then scrub-{id}), read one (live from its workflow's
 * query while it runs; a run that ended without recording it marks its row failed), list them, and
 * the JSON a client sees.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Knex } from 'knex';
import { ENDED_WITHOUT_RECORDING } from '../backups/abandonedJobs';
import { actorRef, type ActorRef } from '../auth/actor';
import { ConflictError, NotFoundError } from '../platform/errors';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import {
  NO_FINDINGS,
  scrubOperation,
  scrubStatusQuery,
  scrubWorkflowId,
  type FindingCounts,
  type ScrubState,
  type ScrubStatus,
  type ScrubTuning,
} from '../../workflows/scrub/definitions';
import type { scrubWorkflow } from '../../workflows/scrub/scrub';
import { insertScrubRow, listFindingRows, listScrubRows, markScrubFailed, selectScrub, type FindingRow, type ScrubFilter, type ScrubRow } from './store';

export interface ScrubJson {
  id: string;
  status: ScrubStatus;
  dry_run: boolean;
  sample_percent: number;
  trigger: 'api' | 'schedule';
  actor: string | null;
  phase: string;
  counts: FindingCounts;
  findings: number;
  repaired: number;
  unrepairable: number;
  bytes_hashed: number;
  objects_listed: number;
  workflow_id: string;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export function toScrubJson(row: ScrubRow, live?: ScrubState): ScrubJson {
  const tally = live?.tally ?? row;
  const counts = { ...NO_FINDINGS, ...tally.counts };
  return {
    id: row.id,
    status: live?.status ?? row.status,
    dry_run: row.dry_run,
    sample_percent: row.sample_percent,
    trigger: row.trigger,
    actor: row.actor?.sub ?? null,
    phase: live?.phase ?? row.phase,
    counts,
    findings: Object.values(counts).reduce((a, b) => a + b, 0),
    repaired: tally.repaired,
    unrepairable: tally.unrepairable,
    bytes_hashed: tally.bytes_hashed,
    objects_listed: tally.objects_listed,
    workflow_id: row.workflow_id,
    error: row.error,
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}

export async function insertScrub(
  db: Knex,
  s: { id?: string; dryRun: boolean; samplePercent: number; trigger: 'api' | 'schedule'; actor: ActorRef },
): Promise<string> {
  const id = s.id ?? uuidv7();
  await insertScrubRow(db, {
    id,
    dry_run: s.dryRun,
    sample_percent: s.samplePercent,
    trigger: s.trigger,
    actor: actorRef(s.actor),
    workflow_id: scrubWorkflowId(id),
  });
  return id;
}

export async function getScrub(db: Knex, id: string): Promise<ScrubRow> {
  const row = await selectScrub(db, id);
  if (!row) throw new NotFoundError(`scrub ${id} not found`);
  return row;
}

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

/** Newest first (ids are UUID v7). */
export async function listScrubs(db: Knex, q: { limit: number; cursor?: string } & ScrubFilter): Promise<Page<ScrubJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is { id: string } => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const rows = await listScrubRows(db, { ...q, limit: q.limit + 1, beforeId: cursor?.id });
  return pageOf(
    rows,
    q.limit,
    (row) => toScrubJson(row),
    (row) => ({ id: row.id }),
  );
}

export interface FindingJson {
  kind: string;
  subject: string;
  outcome: FindingRow['outcome'];
  detail: string | null;
  found_at: string;
}

/** What a scrub found (a dry run: what it would act on), in (kind, subject) order. */
export async function listFindings(db: Knex, scrubId: string, q: { limit: number; cursor?: string; kind?: string }): Promise<Page<FindingJson>> {
  await getScrub(db, scrubId);
  const after = decodeCursor(q.cursor, (p): p is { kind: string; subject: string } => typeof p.kind === 'string' && typeof p.subject === 'string');
  const rows = await listFindingRows(db, scrubId, { limit: q.limit + 1, kind: q.kind, after });
  return pageOf(
    rows,
    q.limit,
    (r) => ({ kind: r.kind, subject: r.subject, outcome: r.outcome, detail: r.detail, found_at: r.at.toISOString() }),
    (r) => ({ kind: r.kind, subject: r.subject }),
  );
}
