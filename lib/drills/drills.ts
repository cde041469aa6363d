/**
 * Restore drills (issue 28): proof that a backup restores, not only that its blobs have the right size.
 * A drill takes a random sample of a backup's assets, restores their versions' blobs into a scratch
 * prefix of the asset bucket, checks every byte and field against the manifest, and removes the copy.
 * A drill that passes stamps its backup (`verified_restore_at`, `verified_by_drill`); /health is
 * degraded once no backup was proven within twice the drill period.
 */
import type { Knex } from 'knex';
import { recordEvent } from '../events/outbox';
import { runActorOf, type AuditWriter } from '../audit/log';
import { ConflictError, NotFoundError } from '../platform/errors';
import { backupProgressOf, getBackup } from '../backups/catalog';
import { newestRestorableBackup, restoreProofTimes, stampVerifiedRestore } from '../backups/store';
import type { JobRow } from '../backups/jobRows';
import { endDrillRow, selectDrill, type DrillFailure, type DrillRow } from './store';

/** Failures a drill's JSON and event carry at most (the row keeps them all). */
export const FAILURES_SHOWN = 100;

export interface DrillJson {
  id: string;
  status: DrillRow['status'];
  backup_id: string | null;
  trigger: DrillRow['trigger'];
  assets_total: number;
  assets_checked: number;
  bytes_checked: number;
  failures: DrillFailure[];
  workflow_id: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  error: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toDrillJson(row: DrillRow): DrillJson {
  return {
    id: row.id,
    status: row.status,
    backup_id: row.backup_id,
    trigger: row.trigger,
    assets_total: row.assets_total,
    assets_checked: row.assets_checked,
    bytes_checked: row.bytes_checked,
    failures: row.failures.slice(0, FAILURES_SHOWN),
    workflow_id: row.workflow_id,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    error: row.error,
  };
}

export async function getDrill(db: Knex | Knex.Transaction, id: string): Promise<DrillRow> {
  const row = await selectDrill(db, id);
  if (!row) throw new NotFoundError(`restore drill ${id} not found`);
  return row;
}

/** The backup a drill takes: the one given (409 unless completed and kept), else the newest such; undefined when there is none. */
export async function drillableBackup(db: Knex, backupId: string | null): Promise<JobRow | undefined> {
  if (!backupId) return newestRestorableBackup(db);
  const row = await getBackup(db, backupId);
  if (row.status !== 'completed' || row.removed_at || !row.manifest_key)
    throw new ConflictError(`backup ${backupId} is ${row.removed_at ? 'removed' : row.status}: only a completed, kept backup can be drilled`);
  return row;
}

/**
 * Ends the drill, once: passed when it checked its whole sample and nothing failed (and no `error`
 * stopped it). A pass stamps the backup; either way its storage.restore_drill.completed event and its
 * audit row, in the same transaction. Answers the row as it ended.
 */
export async function endDrill(db: Knex, audit: AuditWriter, drillId: string, error: string | null): Promise<DrillRow> {
  return db.transaction(async (trx) => {
    const row = await getDrill(trx, drillId);
    if (row.status === 'passed' || row.status === 'failed') return row;
    const complete = row.sample !== null && row.next_index >= row.sample.length && (row.assets_total > 0 || (await holdsNothing(trx, row.backup_id)));
    const passed = error === null && complete && row.failures.length === 0;
    const why =
      error ?? (passed ? null : row.failures.length ? `${row.failures.length} check(s) failed: ${describe(row.failures)}` : 'the drill checked no asset');
    const ended = (await endDrillRow(trx, drillId, passed ? 'passed' : 'failed', why))!;
    if (passed && ended.backup_id) await stampVerifiedRestore(trx, ended.backup_id, drillId);
    await recordEvent(trx, 'storage.restore_drill.completed', drillId, {
      drill_id: drillId,
      backup_id: ended.backup_id,
      status: ended.status,
      assets_checked: ended.assets_checked,
      bytes_checked: ended.bytes_checked,
      failures: ended.failures.slice(0, 20),
      error: ended.error,
    });
    await audit(trx, {
      actor: runActorOf(ended),
      action: 'restore_drill.complete',
      outcome: ended.status,
      subjects: ended.backup_id ? { backup_id: ended.backup_id } : {},
    });
    return ended;
  });
}

/**
 * A sample of no asset proves a backup only when the backup holds none (a deployment with no asset
 * yet): its manifest was read to its end and restores to what it says, nothing. Were that a failure,
 * /health would turn degraded for an empty catalog, its drills never passing.
 */
async function holdsNothing(trx: Knex.Transaction, backupId: string | null): Promise<boolean> {
  if (!backupId) return false;
  return backupProgressOf((await getBackup(trx, backupId)).progress).objects_total === 0;
}

function describe(failures: DrillFailure[]): string {
  const shown = failures.slice(0, 5).map((f) => `asset ${f.asset_id}${f.version_id ? ` version ${f.version_id}` : ''}: ${f.reason}`);
  return shown.join('; ') + (failures.length > shown.length ? `; and ${failures.length - shown.length} more` : '');
}

export interface DrillHealth {
  status: 'ok' | 'unproven';
  period_hours: number;
  last_verified_restore_at: string | null;
  reason?: string;
}

/**
 * Whether backups are proven restorable: unproven when a completed backup is older than one drill
 * period (a drill had time to run) and none was proven within two. A deployment with no backup yet,
 * or only a fresh one, is not judged.
 */
export async function drillHealth(db: Knex, periodHours: number, now = Date.now()): Promise<DrillHealth> {
  const { oldest_completed_at, last_verified_at } = await restoreProofTimes(db);
  const period = periodHours * 3_600_000;
  const base = { period_hours: periodHours, last_verified_restore_at: iso(last_verified_at) };
  if (!oldest_completed_at || now - oldest_completed_at.getTime() <= period) return { status: 'ok', ...base };
  if (last_verified_at && now - last_verified_at.getTime() <= 2 * period) return { status: 'ok', ...base };
  return {
    status: 'unproven',
    ...base,
    reason: last_verified_at
      ? `no backup was proven restorable by a drill since ${last_verified_at.toISOString()} (more than twice the drill period)`
      : 'no backup was ever proven restorable by a restore drill',
  };
}
