/**
 * The API's side of backups and restores: start one (its row, then its workflow), and read one with
 * its live progress from the workflow's query while it runs. A job whose workflow ended without
 * recording it (terminated, timed out) is marked failed when read.
 *
 * The row goes final in the run's last activity, once the job's work is all done: a client that reads
 * `completed` or `failed` can act on it at once. The Temporal run closes a moment later, with
 * nothing left to do but its own bookkeeping.
 */
import { WorkflowNotFoundError, type QueryDefinition } from '@temporalio/common';
import {
  backupOperation,
  backupStatusQuery,
  backupWorkflowId,
  restoreOperation,
  restoreStatusQuery,
  restoreWorkflowId,
  type BackupState,
  type BackupTuning,
  type JobStatus,
  type RestoreState,
} from '../../workflows/backups/definitions';
import type { backupWorkflow } from '../../workflows/backups/backup';
import type { restoreWorkflow } from '../../workflows/backups/restore';
import {
  failJob,
  findJob,
  failedRestoreItems,
  getBackup,
  getRestore,
  insertBackup,
  insertRestore,
  toBackupJson,
  toRestoreJson,
  type BackupJson,
  type RestoreJson,
} from './catalog';
import { type JobRow, type RestoreMode } from './jobRows';
import { NotFoundError } from '../platform/errors';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import { actorRef, type ActorRef } from '../auth/actor';
import { existingAssetIds } from '../assets/store';
import { ENDED_WITHOUT_RECORDING } from './abandonedJobs';
import { withPointInTimeDetail, type PointInTimeDetail } from './pointInTimeJson';

export interface BackupClient extends WorkflowAccess {
  retentionDays: number;
}

export interface StartBackupOptions {
  /** A given id (e.g. derived from an incoming event's id) makes a repeated start join the first. */
  id?: string;
  label?: string;
  assetIds?: string[];
  includeAllVersions?: boolean;
  trigger?: 'api' | 'schedule';
  tuning?: BackupTuning;
}

/** Writes the backup's row (status pending), then starts backup-{id} acting for `actor`; answers the row. */
export async function startBackup(bc: BackupClient, actor: ActorRef, opts: StartBackupOptions = {}): Promise<JobRow> {
  if (opts.assetIds?.length) {
    const known = new Set<string>(await existingAssetIds(bc.db, opts.assetIds));
    const unknown = opts.assetIds.filter((id) => !known.has(id));
    if (unknown.length) throw new NotFoundError(`asset${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not found`);
  }
  const id = await insertBackup(bc.db, {
    id: opts.id,
    label: opts.label ?? null,
    scope: { ...(opts.assetIds ? { asset_ids: opts.assetIds } : {}), include_all_versions: opts.includeAllVersions ?? false },
    trigger: opts.trigger ?? 'api',
    retentionDays: bc.retentionDays,
    actor,
  });
  await startJobWorkflow(bc, id, 'backup', () =>
    bc.client.workflow.start<typeof backupWorkflow>('backupWorkflow', {
      ...jobWorkflowOptions(bc, backupWorkflowId(id), backupOperation, actor, soleAssetOf(opts.assetIds)),
      args: [{ backupId: id, tuning: opts.tuning, actor: actorRef(actor) }],
    }),
  );
  return getBackup(bc.db, id);
}

export interface StartRestoreOptions {
  mode?: RestoreMode;
  assetIds?: string[];
  /** A dry run counts what it would restore and writes no asset (the API asks for one unless told `dry_run: false`). */
  dryRun?: boolean;
  tuning?: BackupTuning;
}

/** Writes the restore's row (409 unless the backup is completed and retained), then starts restore-{id} acting for `actor`. */
export async function startRestore(bc: BackupClient, actor: ActorRef, backupId: string, opts: StartRestoreOptions = {}): Promise<JobRow> {
  const id = await insertRestore(bc.db, { backupId, mode: opts.mode ?? 'missing', assetIds: opts.assetIds, dryRun: opts.dryRun ?? false, actor });
  await startJobWorkflow(bc, id, 'restore', () =>
    bc.client.workflow.start<typeof restoreWorkflow>('restoreWorkflow', {
      ...jobWorkflowOptions(bc, restoreWorkflowId(id), restoreOperation, actor, soleAssetOf(opts.assetIds)),
      args: [{ restoreId: id, tuning: opts.tuning, actor: actorRef(actor) }],
    }),
  );
  return getRestore(bc.db, id);
}

/** The asset a job names when it names exactly one: its run then carries AssetId, so it is among that asset's runs. */
export function soleAssetOf(assetIds: readonly string[] | undefined): string | undefined {
  const ids = new Set(assetIds);
  return ids.size === 1 ? [...ids][0] : undefined;
}

export function jobWorkflowOptions(bc: BackupClient, workflowId: string, operation: string, actor: ActorRef, assetId?: string) {
  return {
    workflowId,
    taskQueue: bc.taskQueue,
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    typedSearchAttributes: runSearchAttributes({ operation, actor, assetId }),
  };
}

/** Starts a job's workflow; a start that fails marks the job's row failed, so it is not left pending. */
export async function startJobWorkflow(bc: BackupClient, id: string, kind: 'backup' | 'restore', start: () => Promise<unknown>): Promise<void> {
  try {
    await start();
  } catch (err) {
    await failJob(bc.db, id, `the ${kind} could not be started: ${err instanceof Error ? err.message : String(err)}`).catch(() => {});
    throw err;
  }
}

const QUERY_DEADLINE_MS = 2_000;

/**
 * While the row says pending or running: the workflow's live state, or (its workflow having ended
 * without recording it) the row marked failed. Temporal being unreachable leaves the row as it is.
 *
 * Only the row says a job ended: the live state says `failed` while the failure handler is still
 * writing the row (a cancelled backup's `cancelled` is in the row only once that is done), and the row
 * read before the query may have ended since. A live end is read from the row, read again; a row not
 * ended yet reads as running.
 */
async function liveState<S extends { status: JobStatus }>(bc: BackupClient, row: JobRow, query: QueryDefinition<S, []>): Promise<{ row: JobRow; live?: S }> {
  if (row.status !== 'pending' && row.status !== 'running') return { row };
  const handle = bc.client.workflow.getHandle(row.workflow_id);
  let live: S;
  try {
    // A query waits for a worker to answer it: bounded, so a read never hangs while none runs.
    live = await bc.client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(query));
  } catch {
    let ended: string | undefined;
    try {
      const status = (await handle.describe()).status.name;
      if (ENDED_WITHOUT_RECORDING.includes(status)) ended = `its workflow ${row.workflow_id} ${status.toLowerCase().replace('_', ' ')}`;
    } catch (describeErr) {
      if (describeErr instanceof WorkflowNotFoundError && row.status === 'running') ended = `its workflow ${row.workflow_id} no longer exists`;
    }
    if (!ended) return { row };
    // The workflow may have recorded its end just now: only a row still open is failed.
    await failJob(bc.db, row.id, ended);
    return { row: (await findJob(bc.db, row.id, row.kind))! };
  }
  if (live.status !== 'completed' && live.status !== 'failed') return { row, live };
  const now = (await findJob(bc.db, row.id, row.kind))!;
  if (now.status !== 'pending' && now.status !== 'running') return { row: now };
  return { row: now, live: { ...live, status: 'running' } };
}

export async function readBackup(bc: BackupClient, backupId: string): Promise<BackupJson> {
  const { row, live } = await liveState<BackupState>(bc, await getBackup(bc.db, backupId), backupStatusQuery);
  return toBackupJson(row, live);
}

/** A restore to a point in time also says, asset by asset, where each came from (lib/backups/pointInTimeJson.ts). */
export async function readRestore(bc: BackupClient, restoreId: string): Promise<RestoreJson & Partial<PointInTimeDetail>> {
  const { row, live } = await liveState<RestoreState>(bc, await getRestore(bc.db, restoreId), restoreStatusQuery);
  const json = toRestoreJson(row, await failedRestoreItems(bc.db, row.id), live);
  return row.mode === 'point_in_time' ? withPointInTimeDetail(bc.db, json) : json;
}
