/**
 * A scrub's rows as the API and the activities see them: its row written, read, listed, its findings
 * paged, and the JSON a client sees. Starting one and reading it live from its run: lib/scrub/scrubRuns.ts.
 */
import type { Knex } from 'knex';
import { actorRef, type ActorRef } from '../auth/actor';
import { NotFoundError } from '../platform/errors';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { NO_FINDINGS, scrubWorkflowId, type FindingCounts, type ScrubState, type ScrubStatus } from '../../workflows/scrub/definitions';
import { insertScrubRow, listFindingRows, listScrubRows, selectScrub, type FindingRow, type ScrubFilter, type ScrubRow } from './store';

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
