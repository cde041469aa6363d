/**
 * Restore activities: the manifest checked against the SHA-256 its backup recorded, then asset by
 * asset each needed blob copied back to its version's key and hashed there, and the rows re-created
 * (activities/backups/restoreAsset.ts, lib/backups/restore.ts). A blob that is missing or corrupt fails its asset alone: nothing of the
 * live asset is touched, what this restore wrote for it is removed, and the restore goes on. After the
 * assets, a restore of every asset brings back the manifest's records the catalog lacks (policies,
 * quotas, history, audit log: lib/backups/records.ts), a page at a time, in the same steps.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import {
  beginJob,
  failJob,
  failedRestoreItems,
  getBackup,
  getRestore,
  restoreItemCounts,
  restoreProgressOf,
  type JobStatus,
  type RestoreProgress,
} from '../../lib/backups/catalog';
import { type BackupRow, type RestoreRow } from '../../lib/backups/jobRows';
import { ManifestCorruptError, hashManifest, readManifestLines, type ReadLine, type RecordLine } from '../../lib/backups/manifest';
import { manifestChecker } from '../../lib/backups/manifestChecks';
import { isNotFound, type CopyLimits } from '../../lib/platform/storedObjects';
import { itemDone, recordItem } from '../../lib/backups/restore';
import { BackupFailure, type BackupTuning } from '../../workflows/backups/definitions';
import { copyLimitsOf, DEFAULT_STEP_BUDGET_MS, permanent } from './common';
import { restoreRecords, type RecordTable } from '../../lib/backups/records';
import type { ActivityDeps } from '../deps';
import { finishRestoreRow, saveJobProgress, saveRunningJobProgress } from '../../lib/backups/store';
import { restoreAsset, type AssetGroup } from './restoreAsset';

const RECORD_PAGE = 500;

interface RecordPage {
  table: RecordTable;
  rows: Array<Record<string, unknown>>;
  /** Byte offset just after the page's last line. */
  end: number;
}

type RestoreDeps = ActivityDeps;
type ManifestRef = { bucket: string; key: string; sizeBytes: number };
type RestorableBackup = BackupRow & { manifest_key: string; manifest_size_bytes: number; blobs_offset: number };

export interface RestoreAssetsInput {
  restoreId: string;
  cursor: number;
  end: number;
  assetsTotal: number;
  tuning?: BackupTuning;
}

export function createRestoreActivities(deps: ActivityDeps) {
  return {
    beginRestore: (restoreId: string) => beginRestore(deps, restoreId),
    restoreBackupAssets: (input: RestoreAssetsInput) => restoreBackupAssets(deps, input),
    finishRestore: (input: { restoreId: string; assetsTotal: number; dryRun?: boolean }) => finishRestore(deps, input),
    failRestore: (input: { restoreId: string; error: string }) => failRestore(deps, input),
  };
}

async function backupOf({ db }: RestoreDeps, restore: RestoreRow): Promise<RestorableBackup> {
  const backup = await getBackup(db, restore.backup_id);
  if (backup.removed_at || !backup.manifest_key || backup.manifest_size_bytes === null || backup.blobs_offset === null) {
    throw ApplicationFailure.create({
      type: BackupFailure.notFound,
      message: `backup ${backup.id} has no manifest to restore from${backup.removed_at ? ' (removed by retention)' : ''}`,
      nonRetryable: true,
    });
  }
  return backup as RestorableBackup;
}

function manifestRefOf({ config }: RestoreDeps, backup: RestorableBackup): ManifestRef {
  return { bucket: config.s3.backupBucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
}

async function progressOf({ db }: RestoreDeps, restoreId: string, assetsTotal: number): Promise<RestoreProgress> {
  return { assets_total: assetsTotal, ...(await restoreItemCounts(db, restoreId)) };
}

/**
 * Marks the restore running and checks its manifest whole: present, of the SHA-256 and size its
 * backup recorded. Assets asked for that the backup does not hold fail at once. Answers where the
 * asset lines are and how many assets the restore deals with.
 */
async function beginRestore(
  deps: RestoreDeps,
  restoreId: string,
): Promise<{ status: JobStatus; cursor: number; end: number; assetsTotal: number; dryRun: boolean }> {
  const { db } = deps;
  const row = (await permanent(() => beginJob(db, restoreId, 'restore'))) as RestoreRow;
  const dryRun = row.scope.dry_run ?? false;
  if (row.status !== 'running') return { status: row.status, cursor: 0, end: 0, assetsTotal: restoreProgressOf(row.progress).assets_total, dryRun };
  const backup = await permanent(() => backupOf(deps, row));
  const wanted = row.scope.asset_ids ? new Set(row.scope.asset_ids) : undefined;
  const scan = await checkWholeManifest(deps, backup, wanted);
  for (const id of wanted ?? []) {
    if (!scan.found.has(id)) await recordItem(db, restoreId, id, { status: 'failed', error: `asset ${id} is not in backup ${backup.id}` });
  }
  const assetsTotal = wanted ? wanted.size : scan.inScope;
  const progress = await progressOf(deps, restoreId, assetsTotal);
  await saveJobProgress(db, restoreId, progress);
  return { status: 'running', cursor: scan.cursor, end: backup.blobs_offset, assetsTotal, dryRun };
}

/** Hashes the whole manifest against its backup's record; answers where its asset lines begin and the assets in scope it holds. */
async function checkWholeManifest(
  deps: RestoreDeps,
  backup: RestorableBackup,
  wanted: Set<string> | undefined,
): Promise<{ cursor: number; inScope: number; found: Set<string> }> {
  const ctx = Context.current();
  const manifest = manifestRefOf(deps, backup);
  const found = new Set<string>();
  let cursor = -1;
  let inScope = 0;
  let lines = 0;
  const visit = ({ line, end }: ReadLine) => {
    if (++lines % 1000 === 0) ctx.heartbeat({ lines });
    if (line.type === 'header') {
      if (line.backup_id !== backup.id) throw new ManifestCorruptError(`manifest ${manifest.key} is the manifest of backup ${line.backup_id}`);
      cursor = end;
    } else if (line.type === 'asset' && (!wanted || wanted.has(line.id))) {
      inScope++;
      found.add(line.id);
    }
  };
  const checked = await permanent(async () => {
    try {
      return await hashManifest(deps.s3, manifest, visit, ctx.cancellationSignal);
    } catch (err) {
      if (isNotFound(err)) throw new ManifestCorruptError(`manifest ${manifest.key} of backup ${backup.id} is missing from the backup store`);
      throw err;
    }
  });
  if (checked.sha256 !== backup.manifest_sha256 || checked.sizeBytes !== backup.manifest_size_bytes) {
    throw ApplicationFailure.create({
      type: BackupFailure.manifestCorrupt,
      message: `manifest ${manifest.key} is corrupt: it hashes to ${checked.sha256} (${checked.sizeBytes} bytes), backup ${backup.id} recorded ${backup.manifest_sha256} (${backup.manifest_size_bytes} bytes)`,
      nonRetryable: true,
    });
  }
  if (cursor < 0)
    throw ApplicationFailure.create({ type: BackupFailure.manifestCorrupt, message: `manifest ${manifest.key} has no header`, nonRetryable: true });
  return { cursor, inScope, found };
}

/** A step of restoreBackupAssets: what it restores, and where it has come to in the manifest's asset and record lines. */
interface RestoreStep {
  restore: RestoreRow;
  backup: RestorableBackup;
  manifest: ManifestRef;
  wanted: Set<string> | undefined;
  /** Where the asset and record lines end. */
  end: number;
  limits: CopyLimits;
  deadline: number;
  signal: AbortSignal;
  beat: () => void;
  cursor: number;
  done: boolean;
  outOfTime: boolean;
  /** The asset whose lines are being read. */
  group?: AssetGroup;
  /** The record lines (after the asset lines) come back a page of one table at a time; a restore of some assets brings none back. */
  records?: RecordPage;
}

/**
 * Restores the assets whose lines start at byte `cursor`, until the asset lines end or the step
 * budget is spent; heartbeats the position after each asset and resumes from it after a retry.
 */
async function restoreBackupAssets(deps: RestoreDeps, input: RestoreAssetsInput): Promise<{ cursor: number; done: boolean; progress: RestoreProgress }> {
  const { db, logger } = deps;
  const ctx = Context.current();
  const restore = (await permanent(() => getRestore(db, input.restoreId))) as RestoreRow;
  const backup = await permanent(() => backupOf(deps, restore));
  const resumed = ctx.info.heartbeatDetails as { cursor?: number } | undefined;
  const step: RestoreStep = {
    restore,
    backup,
    manifest: manifestRefOf(deps, backup),
    wanted: restore.scope.asset_ids ? new Set(restore.scope.asset_ids) : undefined,
    end: input.end,
    limits: copyLimitsOf(input.tuning),
    deadline: 0,
    signal: ctx.cancellationSignal,
    beat: () => ctx.heartbeat({ cursor: step.cursor }),
    cursor: Math.max(input.cursor, resumed?.cursor ?? 0),
    done: false,
    outOfTime: false,
  };
  if (ctx.info.attempt > 1) logger.info('restore resumed', { restore_id: restore.id, attempt: ctx.info.attempt, cursor: step.cursor });
  step.deadline = Date.now() + (input.tuning?.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS);
  step.beat();
  await permanent(() => readAssetLines(deps, step));
  const progress = await progressOf(deps, restore.id, input.assetsTotal);
  await saveRunningJobProgress(db, restore.id, progress);
  return { cursor: step.cursor, done: step.done, progress };
}

/** Reads the manifest from the step's position, restoring each asset and page of records as its lines end. */
async function readAssetLines(deps: RestoreDeps, step: RestoreStep): Promise<void> {
  const { manifest } = step;
  // Checked whole when the restore began, the manifest is read again here, maybe replaced since by
  // whoever can write the backup bucket: every line is checked again, as an import does, before it is used.
  const checker = manifestChecker(step.backup.id, manifest.key);
  for await (const header of readManifestLines(deps.s3, manifest, 0, step.signal)) {
    checker.visit(header);
    break;
  }
  for await (const read of readManifestLines(deps.s3, manifest, step.cursor, step.signal)) {
    checker.visit(read);
    if (read.start >= step.end || read.line.type === 'blob' || read.line.type === 'end') {
      step.done = true;
      break;
    }
    if (!(await takeLine(deps, step, read))) {
      step.outOfTime = true;
      break;
    }
  }
  if (step.done && step.group) await finishGroup(deps, step, step.group);
  if (step.done) await flushRecords(deps, step);
  if (!step.done && !step.outOfTime) throw new ManifestCorruptError(`manifest ${manifest.key} ends inside its asset lines`);
}

/** One asset, version or record line; false when the step's budget is spent (the next call starts at this line). */
async function takeLine(deps: RestoreDeps, step: RestoreStep, read: ReadLine): Promise<boolean> {
  const { line } = read;
  if (line.type === 'record') return takeRecordLine(deps, step, read, line);
  if (line.type === 'asset') {
    if (step.group) {
      await finishGroup(deps, step, step.group);
      step.group = undefined;
      if (Date.now() >= step.deadline) return false;
    }
    step.group = { asset: line, versions: [], end: read.end };
  } else if (line.type === 'version') {
    if (!step.group || line.asset_id !== step.group.asset.id)
      throw new ManifestCorruptError(`manifest ${step.manifest.key}: version ${line.id} at byte ${read.start} follows no line of its asset`);
    step.group.versions.push(line);
    step.group.end = read.end;
  } else {
    throw new ManifestCorruptError(`manifest ${step.manifest.key}: a ${line.type} line at byte ${read.start}, among the asset lines`);
  }
  return true;
}

async function takeRecordLine(deps: RestoreDeps, step: RestoreStep, read: ReadLine, line: RecordLine): Promise<boolean> {
  if (step.group) {
    await finishGroup(deps, step, step.group);
    step.group = undefined;
  }
  if (step.records && (step.records.table !== line.table || step.records.rows.length >= RECORD_PAGE)) {
    await flushRecords(deps, step);
    if (Date.now() >= step.deadline) return false;
  }
  step.records ??= { table: line.table, rows: [], end: read.end };
  step.records.rows.push(line.row);
  step.records.end = read.end;
  return true;
}

async function finishGroup(deps: RestoreDeps, step: RestoreStep, group: AssetGroup): Promise<void> {
  if ((!step.wanted || step.wanted.has(group.asset.id)) && !(await itemDone(deps.db, step.restore.id, group.asset.id))) {
    await restoreAsset(deps, step.restore, group, step.limits, step.signal, step.beat);
  }
  step.cursor = group.end;
  step.beat();
}

async function flushRecords(deps: RestoreDeps, step: RestoreStep): Promise<void> {
  if (!step.records) return;
  if (!step.wanted) await restoreRecords(deps.db, step.records.table, step.records.rows);
  step.cursor = step.records.end;
  step.records = undefined;
  step.beat();
}

/** Completes the restore, or fails it naming every asset it could not restore. */
async function finishRestore(
  deps: RestoreDeps,
  input: { restoreId: string; assetsTotal: number; dryRun?: boolean },
): Promise<{ status: JobStatus; progress: RestoreProgress; error: string | null }> {
  const { db, logger } = deps;
  const progress = await progressOf(deps, input.restoreId, input.assetsTotal);
  let error: string | null = null;
  if (progress.assets_failed > 0) {
    const failed = await failedRestoreItems(db, input.restoreId, 20);
    const more = progress.assets_failed - failed.length;
    error =
      `${progress.assets_failed} of ${progress.assets_total} assets could not be restored: ` +
      failed.map((f) => `asset ${f.asset_id}: ${f.error}`).join('; ') +
      (more > 0 ? `; and ${more} more (GET the restore for the list)` : '');
  } else if (!input.dryRun && progress.assets_done !== progress.assets_total) {
    // A dry run deals with no asset: its assets_total is what a real one would restore.
    error = `the restore dealt with ${progress.assets_done} of ${progress.assets_total} assets`;
  }
  const status: JobStatus = error ? 'failed' : 'completed';
  await finishRestoreRow(db, input.restoreId, status, error, progress);
  const row = await getRestore(db, input.restoreId);
  logger.info('restore finished', { restore_id: input.restoreId, status: row.status, ...progress });
  return { status: row.status, progress: restoreProgressOf(row.progress), error: row.error };
}

async function failRestore({ db }: RestoreDeps, input: { restoreId: string; error: string }): Promise<void> {
  const progress = await restoreItemCounts(db, input.restoreId).catch(() => undefined);
  const row = await getRestore(db, input.restoreId).catch(() => undefined);
  await failJob(db, input.restoreId, input.error, progress && row ? { ...restoreProgressOf(row.progress), ...progress } : undefined);
}

export type RestoreActivities = ReturnType<typeof createRestoreActivities>;
