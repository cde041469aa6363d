/**
 * Retention of the tables that would otherwise grow for ever (issue 26, finding 13): ended upload
 * sessions, delivered or parked outbox events, ended lifecycle runs, ended restores and removed
 * backups, ended restore drills (STORAGE_RESTORE_DRILL_RETENTION_DAYS), ended scrubs, each past its STORAGE_*_RETENTION_DAYS, and idempotency keys past their 24 hours. The lifecycle sweep's run of the global settings
 * applies it (activities/lifecycle.ts), in batches of BATCH rows, each its own statement, within a
 * time budget: what one run leaves, the next removes.
 *
 * What something still needs stays: a session that has not ended, or whose run is still going (it
 * may still read its row); an event not delivered yet; a run or a restore that has not ended; a backup
 * whose manifest is kept (not removed), or that a kept restore names. A restore's item rows go before
 * the restore, so no single statement cascades over an unbounded number of them.
 */
import type { Knex } from 'knex';
import { deleteEndedRestoresBefore, deleteItemsOfEndedRestoresBefore, deleteRemovedBackupsBefore } from '../backups/store';
import { deleteEndedDrillsBefore } from '../drills/store';
import { deleteEventsSettledBefore } from '../events/store';
import { deleteKeysClaimedBefore, KEY_LIFETIME_HOURS } from '../idempotency/store';
import { mapLimit } from '../platform/concurrency';
import type { Config } from '../platform/config';
import { deleteEndedSessions, selectEndedSessionsBefore } from '../uploads/store';
import { deleteEndedRunsBefore } from './store';
import { deleteEndedScrubsBefore } from '../scrub/store';

const BATCH = 500;
const DAY_MS = 86_400_000;
/** Sessions whose run is asked about at once. */
const DESCRIBES_IN_FLIGHT = 8;

export interface TableRetentionDeps {
  db: Knex;
  config: Pick<Config, 'tableRetention'>;
  /** Whether the workflow of that id is still running (false: closed, or gone from Temporal). */
  isRunning(workflowId: string): Promise<boolean>;
  /** Called after each batch. */
  heartbeat(): void;
}

export interface RowsRemoved {
  upload_sessions: number;
  outbox_events: number;
  lifecycle_runs: number;
  restore_items: number;
  backup_jobs: number;
  restore_drills: number;
  idempotency_keys: number;
  scrubs: number;
  /** The budget ran out before every table was done. */
  more: boolean;
}

/** Deletes what is past retention until done or `deadline` (epoch ms); answers what went. */
export async function pruneEndedRows(deps: TableRetentionDeps, deadline: number, now = Date.now()): Promise<RowsRemoved> {
  const { db, config } = deps;
  const before = (days: number) => new Date(now - days * DAY_MS);
  const jobsBefore = before(config.tableRetention.backupJobDays);
  const removed: RowsRemoved = {
    upload_sessions: 0,
    outbox_events: 0,
    lifecycle_runs: 0,
    restore_items: 0,
    backup_jobs: 0,
    restore_drills: 0,
    idempotency_keys: 0,
    scrubs: 0,
    more: false,
  };
  const steps: Array<[keyof Omit<RowsRemoved, 'more'>, () => Promise<{ deleted: number; done: boolean }>]> = [
    ['outbox_events', batchOf(() => deleteEventsSettledBefore(db, before(config.tableRetention.outboxDays), BATCH))],
    ['lifecycle_runs', batchOf(() => deleteEndedRunsBefore(db, before(config.tableRetention.lifecycleRunDays), BATCH))],
    ['restore_items', batchOf(() => deleteItemsOfEndedRestoresBefore(db, jobsBefore, BATCH))],
    ['backup_jobs', batchOf(() => deleteEndedRestoresBefore(db, jobsBefore, BATCH))],
    ['backup_jobs', batchOf(() => deleteRemovedBackupsBefore(db, jobsBefore, BATCH))],
    ['restore_drills', batchOf(() => deleteEndedDrillsBefore(db, before(config.tableRetention.restoreDrillDays), BATCH))],
    ['scrubs', batchOf(() => deleteEndedScrubsBefore(db, before(config.tableRetention.scrubDays), BATCH))],
    ['idempotency_keys', batchOf(() => deleteKeysClaimedBefore(db, new Date(now - KEY_LIFETIME_HOURS * 3_600_000), BATCH))],
    ['upload_sessions', endedSessionBatches(deps, before(config.tableRetention.uploadSessionDays))],
  ];
  for (const [table, next] of steps) {
    for (;;) {
      if (Date.now() >= deadline) return { ...removed, more: true };
      const { deleted, done } = await next();
      removed[table] += deleted;
      deps.heartbeat();
      if (done) break;
    }
  }
  return removed;
}

/** A delete of up to BATCH rows as a step: done once a batch comes back short. */
function batchOf(deleteBatch: () => Promise<number>): () => Promise<{ deleted: number; done: boolean }> {
  return async () => {
    const deleted = await deleteBatch();
    return { deleted, done: deleted < BATCH };
  };
}

/** Batches of ended sessions in (updated_at, id) order; those whose run still goes are passed over. */
function endedSessionBatches(deps: TableRetentionDeps, before: Date): () => Promise<{ deleted: number; done: boolean }> {
  let after: { at: string; id: string } | null = null;
  return async () => {
    const candidates = await selectEndedSessionsBefore(deps.db, before, after, BATCH);
    const running = await mapLimit(candidates, DESCRIBES_IN_FLIGHT, (s) => deps.isRunning(s.workflow_id));
    const ended = candidates.filter((_, i) => !running[i]).map((s) => s.id);
    const deleted = await deleteEndedSessions(deps.db, ended, before);
    const last = candidates[candidates.length - 1];
    if (last) after = { at: last.at, id: last.id };
    return { deleted, done: candidates.length < BATCH };
  };
}
