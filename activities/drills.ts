/**
 * Restore drill activities (workflows/drills/drill.ts): the drill begun (its backup chosen, its sample
 * drawn while the manifest streams, a crashed attempt's scratch removed), its sampled assets checked a
 * step at a time (each version's blob copied into the scratch prefix, read back whole, compared with its
 * version line, removed), and its end (scratch removed, row, backup stamp, event, audit).
 *
 * Every step resumes from the drill's row (`next_index`), so a retry checks no asset twice into the
 * counts. A blob whose copy hashes to something else is recorded damaged (backup_blob_checks): the next
 * backup copies it again.
 */
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { SYSTEM_ACTOR_REF } from '../workflows/shared/actor';
import { DrillFailure, drillScratchPrefix, restoreDrillWorkflowId, type DrillStep, type DrillTuning } from '../workflows/drills/definitions';
import { blobKeyFor } from '../lib/backups/catalog';
import { ManifestCorruptError, readManifestLines, type ManifestLine } from '../lib/backups/manifest';
import { recordBlobDamaged } from '../lib/backups/store';
import { auditWriterOf } from '../lib/audit/log';
import { ConflictError, NotFoundError } from '../lib/platform/errors';
import { copyObject, deleteKeys, hashObject, isNotFound, withTicker } from '../lib/platform/storedObjects';
import { checkAssetLines, type CheckedVersion } from '../lib/drills/checks';
import { drillableBackup, endDrill, getDrill } from '../lib/drills/drills';
import { sampleManifest } from '../lib/drills/sample';
import { removePrefix, scratchDrillIds } from '../lib/drills/scratch';
import { beginDrillRow, insertDrillRow, liveDrillIds, recordDrillAsset, type DrillFailure as Failure, type DrillSampleEntry } from '../lib/drills/store';
import type { BackupRow } from '../lib/backups/jobRows';
import type { ActivityDeps } from './deps';

const DEFAULT_STEP_BUDGET_MS = 10_000;

/** What no retry fixes, as the drill's failure types. */
async function permanent<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof NotFoundError) throw ApplicationFailure.create({ type: DrillFailure.notFound, message: err.message, nonRetryable: true });
    if (err instanceof ConflictError) throw ApplicationFailure.create({ type: DrillFailure.noBackup, message: err.message, nonRetryable: true });
    if (err instanceof ManifestCorruptError) throw ApplicationFailure.create({ type: DrillFailure.manifestCorrupt, message: err.message, nonRetryable: true });
    throw err;
  }
}

/**
 * A read of the backup's manifest: one gone from the backup store, or shorter than its row says (S3's
 * 416 to a range past its end), is a manifest no retry brings back: the drill fails at once, saying so.
 */
async function manifestRead<T>(key: string, work: () => Promise<T>): Promise<T> {
  try {
    return await permanent(work);
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const what = isNotFound(err) ? 'missing from the backup store' : status === 416 ? 'shorter than its backup says' : undefined;
    if (what) throw ApplicationFailure.create({ type: DrillFailure.manifestCorrupt, message: `the backup's manifest ${key} is ${what}`, nonRetryable: true });
    throw err;
  }
}

export function createDrillActivities(deps: ActivityDeps) {
  return {
    createScheduledDrill: (drillId: string) => createScheduledDrill(deps, drillId),
    beginRestoreDrill: (drillId: string) => beginRestoreDrill(deps, drillId),
    checkDrillAssets: (input: { drillId: string; tuning?: DrillTuning }) => checkDrillAssets(deps, input),
    finishRestoreDrill: (input: { drillId: string; error?: string }) => finishRestoreDrill(deps, input),
  };
}

export type DrillActivities = ReturnType<typeof createDrillActivities>;

/** The schedule's drill row; false (no drill) while there is no completed backup to drill. */
async function createScheduledDrill({ db }: ActivityDeps, drillId: string): Promise<boolean> {
  if (!(await drillableBackup(db, null))) return false;
  await insertDrillRow(db, { id: drillId, backup_id: null, trigger: 'schedule', actor: SYSTEM_ACTOR_REF, workflow_id: restoreDrillWorkflowId(drillId) });
  return true;
}

function manifestOf(deps: ActivityDeps, backup: BackupRow) {
  return { bucket: deps.config.s3.backupBucket, key: backup.manifest_key!, sizeBytes: Number(backup.manifest_size_bytes ?? 0) };
}

/**
 * Begins the drill: its backup (the one its row names, else the newest completed one), its sample, its
 * row running. A drill begun already (a retry) answers its row. Scratch a crashed attempt left is removed.
 */
async function beginRestoreDrill(deps: ActivityDeps, drillId: string): Promise<{ status: string; backupId: string | null; assetsTotal: number }> {
  const { config, db, s3, logger } = deps;
  const ctx = Context.current();
  const row = await permanent(() => getDrill(db, drillId));
  await removePrefix(s3, config.s3.bucket, drillScratchPrefix(drillId), ctx.cancellationSignal);
  await removeStaleScratch(deps, ctx.cancellationSignal);
  if (row.status !== 'pending') return { status: row.status, backupId: row.backup_id, assetsTotal: row.assets_total };
  const backup = (await permanent(() => drillableBackup(db, row.backup_id))) as BackupRow | undefined;
  if (!backup) throw ApplicationFailure.create({ type: DrillFailure.noBackup, message: 'there is no completed backup to drill', nonRetryable: true });
  const sample = await manifestRead(backup.manifest_key!, () =>
    sampleManifest(
      s3,
      manifestOf(deps, backup),
      Number(backup.assets_offset ?? 0),
      { maxAssets: config.drills.sampleAssets, maxBytes: config.drills.sampleBytes },
      ctx.cancellationSignal,
      () => ctx.heartbeat(),
    ),
  );
  await beginDrillRow(db, drillId, backup.id, sample);
  logger.info('restore drill begun', { drill_id: drillId, backup_id: backup.id, assets: sample.length, bytes: sample.reduce((n, e) => n + e.bytes, 0) });
  const begun = await getDrill(db, drillId);
  return { status: begun.status, backupId: begun.backup_id, assetsTotal: begun.assets_total };
}

/** A drill's row not changed for this long is no longer running: its run was terminated, or timed out. */
const STALE_DRILL_MS = 6 * 3_600_000;

/** Scratch other drills left: of drills that ended or are unknown, or whose run stopped without ending them. */
async function removeStaleScratch({ config, db, s3, logger }: ActivityDeps, signal: AbortSignal): Promise<void> {
  const prefixes = await scratchDrillIds(s3, config.s3.bucket, signal);
  if (prefixes.length === 0) return;
  const live = new Set(await liveDrillIds(db, prefixes, new Date(Date.now() - STALE_DRILL_MS)));
  for (const id of prefixes.filter((p) => !live.has(p))) {
    const removed = await removePrefix(s3, config.s3.bucket, drillScratchPrefix(id), signal);
    logger.warn('restore drill scratch left behind removed', { drill_id: id, objects: removed });
  }
}

/** Checks sampled assets from the row's position until the sample ends or the step budget is spent. */
async function checkDrillAssets(deps: ActivityDeps, input: { drillId: string; tuning?: DrillTuning }): Promise<DrillStep> {
  const { db } = deps;
  const ctx = Context.current();
  const deadline = Date.now() + (input.tuning?.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS);
  const row = await permanent(() => getDrill(db, input.drillId));
  const sample = row.sample ?? [];
  if (row.status !== 'running' || !row.backup_id) return { done: true, assetsChecked: row.assets_checked };
  const backup = (await permanent(() => drillableBackup(db, row.backup_id))) as BackupRow;
  let checked = row.assets_checked;
  for (let i = row.next_index; i < sample.length; i++) {
    const outcome = await permanent(() => checkAsset(deps, row.id, backup, sample[i], () => ctx.heartbeat({ index: i })));
    await recordDrillAsset(db, row.id, i, outcome.bytes, outcome.failures);
    checked += 1;
    ctx.heartbeat({ index: i + 1 });
    if (i + 1 < sample.length && Date.now() >= deadline) return { done: false, assetsChecked: checked };
  }
  return { done: true, assetsChecked: checked };
}

/** One sampled asset: its lines read and checked, then each version's bytes. */
async function checkAsset(deps: ActivityDeps, drillId: string, backup: BackupRow, entry: DrillSampleEntry, beat: () => void) {
  const signal = Context.current().cancellationSignal;
  const lines: ManifestLine[] = [];
  for await (const read of readManifestLines(deps.s3, manifestOf(deps, backup), entry.start, signal)) {
    if (read.start >= entry.end) break;
    lines.push(read.line);
  }
  const { versions, failures } = checkAssetLines(entry.asset_id, lines);
  let bytes = 0;
  for (const v of versions) {
    const failure = await checkVersion(deps, drillId, v, signal, beat);
    if (failure) failures.push({ asset_id: entry.asset_id, version_id: v.id, reason: failure });
    else bytes += v.size_bytes;
    beat();
  }
  return { bytes, failures };
}

/**
 * One version: its blob copied to the scratch prefix (as a restore copies it, with its content type),
 * read back whole and compared with the version line, then removed. Answers why it failed, or null.
 */
async function checkVersion(deps: ActivityDeps, drillId: string, v: CheckedVersion, signal: AbortSignal, beat: () => void): Promise<string | null> {
  const { config, s3, db, logger } = deps;
  const blob = { bucket: config.s3.backupBucket, key: blobKeyFor(v.checksum_sha256) };
  const scratch = { bucket: config.s3.bucket, key: `${drillScratchPrefix(drillId)}${v.asset_id}/${v.id}` };
  try {
    await withTicker(beat, () =>
      copyObject(s3, blob, scratch, { sizeBytes: v.size_bytes, metadata: { 'drill-id': drillId }, contentType: v.content_type, signal, onPart: beat }),
    );
  } catch (err) {
    if (isNotFound(err)) return `its blob ${blob.key} is missing from the backup store`;
    throw err;
  }
  const got = await hashObject(s3, scratch, { signal, onBytes: beat });
  await deleteKeys(s3, scratch.bucket, [scratch.key]);
  const wrong: string[] = [];
  if (got.sha256 !== v.checksum_sha256) wrong.push(`the restored bytes hash to ${got.sha256}, the manifest says ${v.checksum_sha256}`);
  if (got.sizeBytes !== v.size_bytes) wrong.push(`it restored ${got.sizeBytes} bytes, the manifest says ${v.size_bytes}`);
  if (got.contentType !== v.content_type) wrong.push(`it restored with content type ${got.contentType ?? 'none'}, the manifest says ${v.content_type}`);
  if (got.sha256 !== v.checksum_sha256 || got.sizeBytes !== v.size_bytes) {
    logger.error('restore drill: a blob does not restore its version', { drill_id: drillId, asset_id: v.asset_id, version_id: v.id, blob: blob.key });
    await recordBlobDamaged(db, v.checksum_sha256, v.size_bytes, `a restore drill (${drillId}) read ${got.sha256} (${got.sizeBytes} bytes)`);
  }
  return wrong.length ? wrong.join('; ') : null;
}

/** Ends the drill (passed, or failed with `error` or its failures): the scratch prefix removed first, whatever happened. */
async function finishRestoreDrill(
  deps: ActivityDeps,
  input: { drillId: string; error?: string },
): Promise<{ status: string; error: string | null; failures: Failure[] }> {
  const { config, db, s3, logger } = deps;
  await removePrefix(s3, config.s3.bucket, drillScratchPrefix(input.drillId));
  const ended = await permanent(() => endDrill(db, auditWriterOf(config.audit.enabled), input.drillId, input.error ?? null));
  logger.info('restore drill ended', {
    drill_id: ended.id,
    backup_id: ended.backup_id,
    status: ended.status,
    assets: ended.assets_checked,
    failures: ended.failures.length,
  });
  return { status: ended.status, error: ended.error, failures: ended.failures.slice(0, 5) };
}
