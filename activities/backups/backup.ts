/**
 * Backup activities: the manifest from one snapshot, the blobs copied into the backup bucket by
 * content address (only those not there yet), the summary and the completion event. Every copy is
 * checked: the source is hashed against the catalog before it is copied, and the copy hashed at its
 * address after (then recorded verified in backup_blob_checks).
 *
 * Backups trust nothing they did not hash (issue 28): a blob already at its address is reused only when
 * backup_blob_checks says it was verified there, never on its size alone. The cost is paid once: the
 * first backup after that table came hashes every blob the bucket already held (reading all of it), and
 * from then on a blob is hashed when it is written, or when a scrub finds it damaged.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { backupProgressOf, getBackup, beginJob, failJob, insertBackup, manifestKeyFor, summaryKeyFor, type BackupProgress } from '../../lib/backups/catalog';
import { type BackupRow } from '../../lib/backups/jobRows';
import { ManifestCorruptError, readManifestLines, writeManifest, type BlobLine, type ReadLine } from '../../lib/backups/manifest';
import { copyObject, hashObject, headObject, isNotFound, withTicker, type CopyLimits, type HeadResult, type ObjectRef } from '../../lib/platform/storedObjects';
import { registerManifest } from '../../lib/backups/retention';
import { HANDED_OFF_FROM, endHandoffs, leaseKeeper, renewHandoffLease } from '../../lib/backups/handoff';
import { recordEvent } from '../../lib/events/outbox';
import { BackupFailure, type BackupTuning, type ScheduledBackupRetry } from '../../workflows/backups/definitions';
import { mapLimit } from '../../lib/platform/concurrency';
import { copyLimitsOf, DEFAULT_STEP_BUDGET_MS, permanent } from './common';
import { createRestoreActivities } from './restore';
import { createRetentionActivities } from './retention';
import type { ActivityDeps } from '../deps';
import { SYSTEM_ACTOR_REF } from '../../workflows/shared/actor';
import { summaryOf } from '../../lib/backups/summary';
import {
  blobCheckOf,
  exactClockTime,
  lockJobRow,
  markBackupCompleted,
  recordBlobDamaged,
  recordBlobVerified,
  saveRunningJobProgress,
} from '../../lib/backups/store';
import { otherVersionsWithContent } from '../../lib/assets/store';
import { auditWriterOf, runActorOf } from '../../lib/audit/log';

const DEFAULT_BLOB_BATCH = 16;
/** Blobs of one batch copied at once. */
const COPY_WIDTH = 8;

type BackupDeps = Pick<ActivityDeps, 'config' | 'db' | 's3' | 'logger'>;

export interface CopyBlobsInput {
  backupId: string;
  cursor: number;
  progress: BackupProgress;
  tuning?: BackupTuning;
}

export function createBackupActivities(deps: ActivityDeps) {
  return {
    createScheduledBackup: (backupId: string) => createScheduledBackup(deps, backupId),
    beginBackup: (backupId: string) => beginBackup(deps, backupId),
    writeBackupManifest: (backupId: string) => writeBackupManifest(deps, backupId),
    copyBackupBlobs: (input: CopyBlobsInput) => copyBackupBlobs(deps, input),
    completeBackup: (input: { backupId: string; progress: BackupProgress }) => completeBackup(deps, input),
    failBackup: (input: { backupId: string; error: string; progress?: BackupProgress }) => failBackup(deps, input),
  };
}

/**
 * The row of a backup the storage-backup schedule takes: every asset, every version. Answers how
 * the schedule takes it again if it fails.
 */
async function createScheduledBackup({ config, db }: BackupDeps, backupId: string): Promise<ScheduledBackupRetry> {
  await insertBackup(db, {
    id: backupId,
    label: 'scheduled',
    scope: { include_all_versions: true },
    trigger: 'schedule',
    retentionDays: config.backups.retentionDays,
    actor: SYSTEM_ACTOR_REF,
  });
  return config.backups.retry;
}

/** Marks the backup running; answers its status (a finished backup is not run again). */
async function beginBackup({ db }: BackupDeps, backupId: string): Promise<{ status: string; progress: BackupProgress }> {
  const row = await permanent(() => beginJob(db, backupId, 'backup'));
  return { status: row.status, progress: backupProgressOf(row.progress) };
}

/**
 * Writes the manifest from one snapshot and registers it (from then on retention keeps its
 * blobs). A retry after the registration finds it and writes nothing; a retry before it writes
 * the whole manifest again, from a new snapshot: a snapshot cannot outlive its transaction.
 */
async function writeBackupManifest({ config, db, s3, logger }: BackupDeps, backupId: string): Promise<BackupProgress> {
  const ctx = Context.current();
  const row = (await permanent(() => getBackup(db, backupId))) as BackupRow;
  if (row.manifest_sha256) return backupProgressOf(row.progress);
  const key = manifestKeyFor(backupId);
  let lines = 0;
  // Deletions hand their contents to this backup from this commit on, before its snapshot begins.
  await renewHandoffLease(db, backupId);
  const keepLease = leaseKeeper(db, backupId, logger);
  // The snapshot's first rows of a large catalog may take a while to come (a sort): the ticker
  // keeps the heartbeat going meanwhile.
  const written = await withTicker(
    () => {
      ctx.heartbeat({ lines });
      keepLease();
    },
    () => writeManifest(db, s3, { bucket: config.s3.backupBucket, key }, { id: backupId, scope: row.scope }, (n) => (lines = n)),
  );
  const progress: BackupProgress = {
    objects_total: written.counts.blobs,
    objects_done: 0,
    bytes_total: written.counts.bytes,
    bytes_done: 0,
    bytes_copied: 0,
  };
  await registerManifest(db, backupId, key, written, progress);
  logger.info('backup manifest written', { backup_id: backupId, key, sha256: written.sha256, ...written.counts });
  return progress;
}

function manifestOf(deps: BackupDeps, row: BackupRow) {
  if (!row.manifest_key || row.manifest_size_bytes === null || row.blobs_offset === null) {
    throw new Error(`backup ${row.id} has no manifest yet`);
  }
  return { bucket: deps.config.s3.backupBucket, key: row.manifest_key, sizeBytes: row.manifest_size_bytes };
}

/** Where a copy step is: the manifest's byte offset it has come to, what it has copied, whether the blob lines ended. */
interface CopyPosition {
  cursor: number;
  progress: BackupProgress;
  done: boolean;
}

/** A copy step's fixed parts. */
interface CopyStep {
  row: BackupRow;
  manifest: { bucket: string; key: string; sizeBytes: number };
  at: CopyPosition;
  limits: CopyLimits;
  batchSize: number;
  deadline: number;
  signal: AbortSignal;
  beat: () => void;
}

/**
 * Copies the blobs of the manifest from byte offset `cursor` until the manifest ends or the step
 * budget is spent. Heartbeats { cursor, progress } after each batch and, after a retry, resumes
 * from the last heartbeat. Answers where it stopped.
 */
async function copyBackupBlobs(deps: BackupDeps, input: CopyBlobsInput): Promise<{ cursor: number; progress: BackupProgress; done: boolean }> {
  const { db, logger } = deps;
  const ctx = Context.current();
  const row = (await permanent(() => getBackup(db, input.backupId))) as BackupRow;
  const manifest = manifestOf(deps, row);
  const at: CopyPosition = { cursor: input.cursor, progress: input.progress, done: false };
  const resumed = ctx.info.heartbeatDetails as { cursor?: number; progress?: BackupProgress } | undefined;
  if (resumed?.cursor !== undefined && resumed.progress && resumed.cursor > at.cursor) {
    at.cursor = resumed.cursor;
    at.progress = resumed.progress;
  }
  if (at.cursor < row.blobs_offset!) at.cursor = row.blobs_offset!;
  if (ctx.info.attempt > 1)
    logger.info('backup copy resumed', { backup_id: row.id, attempt: ctx.info.attempt, cursor: at.cursor, objects_done: at.progress.objects_done });

  const deadline = Date.now() + (input.tuning?.stepBudgetMs ?? DEFAULT_STEP_BUDGET_MS);
  await renewHandoffLease(db, row.id);
  const keepLease = leaseKeeper(db, row.id, logger);
  const beat = () => {
    ctx.heartbeat({ cursor: at.cursor, progress: at.progress });
    keepLease();
  };
  beat();
  const step: CopyStep = {
    row,
    manifest,
    at,
    limits: copyLimitsOf(input.tuning),
    batchSize: input.tuning?.batchSize ?? DEFAULT_BLOB_BATCH,
    deadline,
    signal: ctx.cancellationSignal,
    beat,
  };
  await permanent(() => copyManifestBlobs(deps, step));
  await saveRunningJobProgress(db, row.id, at.progress);
  return { cursor: at.cursor, progress: at.progress, done: at.done };
}

/** Reads the blob lines from the step's position, copying them a batch at a time. */
async function copyManifestBlobs(deps: BackupDeps, step: CopyStep): Promise<void> {
  const { at, manifest } = step;
  let batch: ReadLine[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await copyBatch(deps, step, batch);
    batch = [];
    step.beat();
  };
  for await (const read of readManifestLines(deps.s3, manifest, at.cursor, step.signal)) {
    if (read.line.type === 'end') {
      await flush();
      at.cursor = read.end;
      at.done = true;
      break;
    }
    if (read.line.type !== 'blob')
      throw new ManifestCorruptError(`manifest ${manifest.key}: a ${read.line.type} line at byte ${read.start}, among the blob lines`);
    batch.push(read);
    if (batch.length >= step.batchSize) {
      await flush();
      if (Date.now() >= step.deadline) break;
    }
  }
  if (!at.done && batch.length) await flush();
  if (!at.done && at.cursor >= manifest.sizeBytes) throw new ManifestCorruptError(`manifest ${manifest.key} has no end line`);
}

/** Copies one batch of blobs; the position moves past it. */
async function copyBatch(deps: BackupDeps, step: CopyStep, batch: ReadLine[]): Promise<void> {
  const blobs = batch.map((r) => r.line as BlobLine);
  const outcomes = await mapLimit(blobs, COPY_WIDTH, (blob) => backupBlob(deps, step.row.id, blob, step.limits, step.signal, step.beat));
  const next = { ...step.at.progress };
  blobs.forEach((blob, i) => {
    next.objects_done += 1;
    next.bytes_done += blob.size_bytes;
    if (outcomes[i] === 'copied') next.bytes_copied += blob.size_bytes;
  });
  step.at.cursor = batch[batch.length - 1].end;
  step.at.progress = next;
}

/** What a backup found at a blob's address. */
type BlobOutcome = 'copied' | 'present';

/**
 * One blob. Already at its address with the right size, it is reused only once its bytes were hashed to
 * that address (a verified row of backup_blob_checks, written at the copy or by a scrub since); an
 * unchecked one is hashed here first, a damaged one copied again. Otherwise the source is checked and
 * copied, and the copy hashed at its address. 'copied' also when an earlier, killed attempt of this
 * backup copied it (the blob carries the backup's id), so a retried batch counts every byte once.
 */
async function backupBlob(deps: BackupDeps, backupId: string, blob: BlobLine, limits: CopyLimits, signal: AbortSignal, beat: () => void): Promise<BlobOutcome> {
  const { s3, logger } = deps;
  const to = { bucket: deps.config.s3.backupBucket, key: blob.key };
  const head = await headObject(s3, to, signal);
  const found = await reuseAtAddress(deps, backupId, blob, head, { limits, signal, beat });
  if (found) return found;
  if (head && head.sizeBytes !== blob.size_bytes)
    logger.warn('blob of the wrong size at its address: copied again', { key: blob.key, size: head.sizeBytes, expected: blob.size_bytes });
  let source: ObjectRef;
  try {
    source = await verifiedSource(deps, blob, signal, beat);
  } catch (err) {
    // A deletion hands the content off before it deletes its object (lib/backups/handoff.ts): a source
    // gone since the HEAD above means the content has come to its address meanwhile. One look more.
    if (!(err instanceof ApplicationFailure && err.type === BackupFailure.sourceMissing)) throw err;
    const now = await headObject(s3, to, signal);
    const handed = await reuseAtAddress(deps, backupId, blob, now, { limits, signal, beat });
    if (handed) return handed;
    throw err;
  }
  await withTicker(beat, () =>
    copyObject(s3, source, to, { sizeBytes: blob.size_bytes, metadata: { 'backup-id': backupId, sha256: blob.sha256 }, limits, signal, onPart: beat }),
  );
  // The copy is read back whole: a store that kept other bytes (or too few) is caught here, not at a restore.
  const copied = await hashObject(s3, to, { signal, onBytes: beat });
  if (copied.sha256 !== blob.sha256 || copied.sizeBytes !== blob.size_bytes)
    throw new Error(`the copy of ${blob.key} hashes to ${copied.sha256} (${copied.sizeBytes} bytes), ${blob.sha256} (${blob.size_bytes} bytes) expected`);
  await recordBlobVerified(deps.db, blob.sha256, blob.size_bytes);
  return 'copied';
}

interface CopyContext {
  limits: CopyLimits;
  signal: AbortSignal;
  beat: () => void;
}

/**
 * The blob already at its address, if it can be trusted: a hand-off taken, a verified check, or bytes
 * hashed now to the address (recorded verified). Undefined when it must be copied (missing, wrong size,
 * recorded damaged, or hashing to something else: recorded damaged).
 */
async function reuseAtAddress(
  deps: BackupDeps,
  backupId: string,
  blob: BlobLine,
  head: HeadResult | undefined,
  { limits, signal, beat }: CopyContext,
): Promise<BlobOutcome | undefined> {
  if (!head || head.sizeBytes !== blob.size_bytes) return undefined;
  if (head.metadata[HANDED_OFF_FROM] !== undefined)
    return (await takeHandedOff(deps, backupId, blob, { bucket: deps.config.s3.backupBucket, key: blob.key }, limits, signal, beat)) ? 'copied' : undefined;
  const ours: BlobOutcome = head.metadata['backup-id'] === backupId ? 'copied' : 'present';
  const check = await blobCheckOf(deps.db, blob.sha256);
  if (check?.damaged_at) return undefined;
  if (check?.verified_at && check.size_bytes === blob.size_bytes) return ours;
  const got = await hashObject(deps.s3, { bucket: deps.config.s3.backupBucket, key: blob.key }, { signal, onBytes: beat });
  if (got.sha256 === blob.sha256 && got.sizeBytes === blob.size_bytes) {
    await recordBlobVerified(deps.db, blob.sha256, blob.size_bytes);
    return ours;
  }
  deps.logger.error('blob at its address does not hash to it: copied again', { key: blob.key, got: got.sha256, size: got.sizeBytes });
  await recordBlobDamaged(deps.db, blob.sha256, blob.size_bytes, `hashes to ${got.sha256} (${got.sizeBytes} bytes)`);
  return undefined;
}

/**
 * A blob a deletion handed off (lib/backups/handoff.ts) is checked like a source: hashed against the
 * catalog's SHA-256, then marked as this backup's (a copy onto itself) and recorded verified, so no
 * later backup hashes it again. False when it does not match: it is then copied again like a missing blob.
 */
async function takeHandedOff(
  { db, s3, logger }: BackupDeps,
  backupId: string,
  blob: BlobLine,
  to: ObjectRef,
  limits: CopyLimits,
  signal: AbortSignal,
  beat: () => void,
): Promise<boolean> {
  const got = await hashObject(s3, to, { signal, onBytes: beat });
  if (got.sha256 !== blob.sha256 || got.sizeBytes !== blob.size_bytes) {
    logger.error('content handed off by a deletion does not match the catalog', { sha256: blob.sha256, got: got.sha256, size: got.sizeBytes });
    return false;
  }
  await withTicker(beat, () =>
    copyObject(s3, to, to, { sizeBytes: blob.size_bytes, metadata: { 'backup-id': backupId, sha256: blob.sha256 }, limits, signal, onPart: beat }),
  );
  await recordBlobVerified(db, blob.sha256, blob.size_bytes);
  return true;
}

/**
 * Finds a readable object with the blob's content and checks it: the manifest's source first, then
 * any other version with the same checksum (the source may have been deleted since the snapshot).
 */
async function verifiedSource({ config, db, s3, logger }: BackupDeps, blob: BlobLine, signal: AbortSignal, beat: () => void): Promise<ObjectRef> {
  const others = await otherVersionsWithContent(db, blob.sha256, blob.source.object_key);
  const candidates = [{ object_key: blob.source.object_key, asset_id: blob.source.asset_id, id: blob.source.version_id }, ...others];
  const corrupt: string[] = [];
  for (const c of candidates) {
    const ref = { bucket: config.s3.bucket, key: c.object_key };
    let got;
    try {
      got = await hashObject(s3, ref, { signal, onBytes: beat });
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    if (got.sha256 === blob.sha256 && got.sizeBytes === blob.size_bytes) return ref;
    const detail = `version ${c.id} of asset ${c.asset_id}: its object ${c.object_key} hashes to ${got.sha256} (${got.sizeBytes} bytes), the catalog says ${blob.sha256} (${blob.size_bytes} bytes)`;
    logger.error('backup source corrupt', { sha256: blob.sha256, asset_id: c.asset_id, version_id: c.id, object_key: c.object_key });
    corrupt.push(detail);
  }
  if (corrupt.length) {
    throw ApplicationFailure.create({ type: BackupFailure.sourceCorrupt, message: `cannot back up ${corrupt.join('; ')}`, nonRetryable: true });
  }
  throw ApplicationFailure.create({
    type: BackupFailure.sourceMissing,
    message:
      `cannot back up version ${blob.source.version_id} of asset ${blob.source.asset_id}: its object ${blob.source.object_key} ` +
      `is gone from the asset bucket (deleted after the snapshot?) and the backup store does not hold its content ${blob.sha256}`,
    nonRetryable: true,
  });
}

/**
 * Checks that every blob was accounted for, writes the summary object, and completes the backup
 * with its storage.backup.completed event, once.
 */
async function completeBackup(deps: BackupDeps, input: { backupId: string; progress: BackupProgress }): Promise<BackupProgress> {
  const { config, db, s3, logger } = deps;
  const row = (await permanent(() => getBackup(db, input.backupId))) as BackupRow;
  if (row.status === 'completed') return backupProgressOf(row.progress);
  if (row.status === 'failed') throw endedBefore(row);
  const { progress } = input;
  const counts = row.counts!;
  if (progress.objects_done !== counts.blobs || progress.bytes_done !== counts.bytes) {
    throw ApplicationFailure.create({
      type: BackupFailure.incomplete,
      message: `the manifest names ${counts.blobs} blobs (${counts.bytes} bytes) but ${progress.objects_done} (${progress.bytes_done} bytes) were backed up`,
      nonRetryable: true,
    });
  }
  // The summary and the row say the same completion time, to the microsecond: an import rebuilds the row from the summary.
  const completedAt = await exactClockTime(db);
  const summary = await summaryOf(db, row, progress, completedAt);
  await s3.send(
    new PutObjectCommand({
      Bucket: config.s3.backupBucket,
      Key: summaryKeyFor(row.id),
      Body: JSON.stringify(summary, null, 2),
      ContentType: 'application/json',
    }),
  );
  const ended = await db.transaction((trx) => completeBackupRow(deps, trx, row, progress, completedAt));
  if (ended) {
    // Failed meanwhile (cancelled while this step ran): a summary would let an import make it a completed backup.
    await s3.send(new DeleteObjectCommand({ Bucket: config.s3.backupBucket, Key: summaryKeyFor(row.id) }));
    throw endedBefore(ended);
  }
  logger.info('backup completed', { backup_id: row.id, ...counts, bytes_copied: progress.bytes_copied });
  return progress;
}

/** A backup whose row failed (its run cancelled, its failure handler done) before its completion: it stays failed. */
function endedBefore(row: Pick<BackupRow, 'id' | 'error'>): ApplicationFailure {
  return ApplicationFailure.create({
    type: BackupFailure.ended,
    message: `backup ${row.id} failed (${row.error ?? 'no reason recorded'}) before it could be completed`,
    nonRetryable: true,
  });
}

/**
 * The row completed, its hand-offs ended, its event and audit row: once. A row that failed meanwhile
 * (a cancel: the failure handler ran while this step did) is not completed: it is answered instead.
 */
async function completeBackupRow(
  deps: BackupDeps,
  trx: Knex.Transaction,
  row: BackupRow,
  progress: BackupProgress,
  completedAt: string,
): Promise<BackupRow | undefined> {
  const locked = await lockJobRow(trx, row.id);
  if (locked.status === 'completed') return undefined;
  if (locked.status === 'failed') return locked as BackupRow;
  await markBackupCompleted(trx, row.id, completedAt, progress);
  await endHandoffs(trx, row.id);
  await recordEvent(trx, 'storage.backup.completed', row.id, {
    backup_id: row.id,
    label: row.label,
    trigger: row.trigger,
    scope: row.scope,
    manifest_key: row.manifest_key,
    manifest_sha256: row.manifest_sha256,
    summary_key: summaryKeyFor(row.id),
    counts: row.counts!,
    bytes_copied: progress.bytes_copied,
  });
  await auditWriterOf(deps.config.audit.enabled)(trx, {
    actor: runActorOf(row),
    action: 'backup.complete',
    outcome: 'completed',
    subjects: { backup_id: row.id },
    requestId: row.workflow_id,
  });
  return undefined;
}

async function failBackup({ db }: BackupDeps, input: { backupId: string; error: string; progress?: BackupProgress }): Promise<void> {
  await failJob(db, input.backupId, input.error, input.progress);
  await endHandoffs(db, input.backupId);
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;

/** Every activity of backups, restores and retention: what activities/index.ts registers. */
export function createBackupRestoreActivities(deps: ActivityDeps) {
  return { ...createBackupActivities(deps), ...createRestoreActivities(deps), ...createRetentionActivities(deps) };
}
