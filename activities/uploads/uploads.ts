import { CompleteMultipartUploadCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { deleteVersionRows, versionsBeyond } from '../../lib/assets/store';
import { claimVersionsBeyond } from '../../lib/assets/versions';
import { pausePoint } from '../../lib/assets/pausePoints';
import {
  AssetGoneError,
  UploadMadeBeforeError,
  commitUploadedVersion,
  type CommittedVersion,
  type SniffedBytes,
  getUploadSession,
  insertUploadSession,
  markSessionCompleting,
} from '../../lib/uploads/sessions';
import { findUploadSession, sessionProgressOf } from '../../lib/uploads/store';
import { ContentTypeMismatchError, NotFoundError, QuotaExceededError, StaleRevisionError } from '../../lib/platform/errors';
import { SNIFF_BYTES, detectedTypeOf, typeDependsOnBytes } from '../../lib/uploads/contentType';
import { AccessRevokedError } from '../../lib/uploads/sessionAccess';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { deleteUploadSession, setSessionEnded, setSessionS3UploadId } from '../../lib/uploads/store';
import { abortUploadsAt, discardSessionBytes } from '../../lib/uploads/sessionBytes';
import { objectKeyFor } from '../../lib/assets/keys';
import { findTusUpload } from '../../lib/uploads/store';
import { digestOf, multipartEtag } from '../../lib/uploads/sha256Stream';
import { listStoredParts, openMultipartUpload, partsToResend } from '../../lib/platform/multipart';
import { copyObject as copyStoredObject, hashObject, headObject, isNotFound, readFirstBytes, withTicker } from '../../lib/platform/storedObjects';
import { UploadFailure, type DiscardOutcome, type SessionProgress, type UploadDetails, type UploadInput } from '../../workflows/uploads/definitions';
import type { ActivityDeps } from '../deps';
import { auditWriterOf, runActorOf, type AuditWriter } from '../../lib/audit/log';
import { handOffToBackups, handoffDepsOf } from '../../lib/backups/handoff';
import type { ActorRef } from '../../workflows/shared/actor';
import { bindActivities } from './bindActivities';
import { countJobsByKindAndStatus } from '../../lib/backups/store';
import { abortIncompleteUploads as abortUnownedUploads, type IncompleteUploadsSwept } from '../../lib/uploads/incompleteUploads';

/** What the upload activities run with: the worker's deps, the assets' bucket and the audit writer. */
type UploadDeps = ActivityDeps & { bucket: string; audit: AuditWriter };

/** Writes the session row and, for a chunked or tus upload, opens its S3 multipart upload. */
async function openUpload({ config, db, s3, bucket }: UploadDeps, input: UploadInput): Promise<void> {
  await insertUploadSession(db, input, config.quotas).catch(failIfFinal);
  if (input.kind !== 'chunked' && input.kind !== 'tus') return;
  const row = await getUploadSession(db, input.uploadId).catch(failIfFinal);
  if (row.s3_upload_id) return;
  const s3UploadId = await openMultipartUpload(s3, bucket, row.object_key, row.content_type);
  await setSessionS3UploadId(db, input.uploadId, s3UploadId);
}

/** Parts that are absent or of the wrong size, read from S3 itself (parts sent by presigned URL never pass the API). */
async function checkParts({ db, s3, bucket }: UploadDeps, uploadId: string): Promise<{ missing: number[] }> {
  const row = await completingSession(db, uploadId);
  // The multipart upload a permanent deletion aborted is gone with its session: found so, no retry brings it back.
  const parts = await listStoredParts(s3, bucket, row.object_key, row.s3_upload_id!).catch(async (err: unknown) => {
    if ((err as { name?: string }).name === 'NoSuchUpload') await completingSession(db, uploadId);
    throw err;
  });
  return { missing: partsToResend(parts, row.size_bytes, row.part_size_bytes!, row.part_count!) };
}

async function markCompleting({ config, db }: UploadDeps, { uploadId, details }: { uploadId: string; details?: UploadDetails }): Promise<void> {
  await markSessionCompleting(db, config.quotas, uploadId, details).catch(failIfFinal);
}

/** Completes the multipart upload; a repeat after success finds the object already assembled. */
async function assembleParts({ db, s3, bucket }: UploadDeps, uploadId: string): Promise<void> {
  const row = await completingSession(db, uploadId);
  let parts;
  try {
    parts = await listStoredParts(s3, bucket, row.object_key, row.s3_upload_id!);
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchUpload' && (await headObject(s3, { bucket, key: row.object_key }))) return;
    throw err;
  }
  let missing: number[];
  if (row.kind === 'tus') {
    // The parts the API recorded, of whatever size each PATCH was; a later send of a number
    // beyond them was never recorded (its PATCH failed), and is not part of the object.
    const recorded = (await findTusUpload(db, uploadId))?.part_count ?? 0;
    parts = parts.filter((p) => p.partNumber <= recorded);
    missing = missingNumbers(parts, recorded);
  } else {
    missing = partsToResend(parts, row.size_bytes, row.part_size_bytes!, row.part_count!);
  }
  if (missing.length) {
    throw ApplicationFailure.nonRetryable(`parts missing: ${missing.join(', ')}`, UploadFailure.missingParts);
  }
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: row.object_key,
      UploadId: row.s3_upload_id!,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
    }),
  );
}

/**
 * Server-side copy of an earlier version's bytes to the new version's key (by parts when large); with
 * `fromBackup`, of a blob of the backup bucket (a restore to a point in time). A source that is gone
 * (its version pruned or its asset deleted meanwhile, the blob removed) stays gone: no retry brings it back.
 */
async function copyObject(
  { s3, bucket, config }: UploadDeps,
  { from, to, sizeBytes, fromBackup }: { from: string; to: string; sizeBytes: number; fromBackup?: boolean },
): Promise<void> {
  const source = { bucket: fromBackup ? config.s3.backupBucket : bucket, key: from };
  try {
    await copyStoredObject(s3, source, { bucket, key: to }, { sizeBytes, metadata: {}, signal: Context.current().cancellationSignal });
  } catch (err) {
    if (isNotFound(err)) {
      const what = fromBackup
        ? `the backup blob to copy is gone: ${from} is not in the backup bucket`
        : `the version to copy is gone: ${from} no longer exists`;
      throw ApplicationFailure.nonRetryable(what, UploadFailure.assetGone);
    }
    throw err;
  }
}

/**
 * Confirms a staged object without reading it: the store checked every part against its SHA-256
 * on receipt, and reports the checksum of what it assembled. When that report matches the one
 * computed while staging, and the size too, the object is exactly the bytes the API hashed.
 * Answers null when the store reports no checksum, or one other than predicted: the caller then
 * reads the object back, and that judges the bytes. Stores format (or compute) a multipart object's
 * checksum differently (AWS `<base64>-<parts>`, others the whole object's hash or no suffix), and a
 * store's formatting is no reason to refuse an upload.
 */
async function confirmStagedObject(
  { db, s3, bucket }: UploadDeps,
  req: {
    /** Absent in runs scheduled before it was passed. */
    uploadId?: string;
    objectKey: string;
    sizeBytes: number;
    checksumSha256: string;
    s3ChecksumSha256: string;
    declaredChecksumSha256?: string;
  },
): Promise<{ sizeBytes: number; checksumSha256: string } | null> {
  if (req.declaredChecksumSha256 !== undefined && req.declaredChecksumSha256 !== req.checksumSha256) {
    throw ApplicationFailure.nonRetryable(
      `checksum mismatch: the bytes hash to ${req.checksumSha256}, ${req.declaredChecksumSha256} was declared`,
      UploadFailure.checksumMismatch,
    );
  }
  const head = await headObject(s3, { bucket, key: req.objectKey });
  if (!head) return missingObject(db, req.uploadId, `the staged object ${req.objectKey} is not in the store`);
  if (!head.checksumSha256) return null;
  if (head.sizeBytes !== req.sizeBytes) {
    throw ApplicationFailure.nonRetryable(`size mismatch: ${head.sizeBytes} bytes stored, ${req.sizeBytes} staged`, UploadFailure.sizeMismatch);
  }
  if (head.checksumSha256 !== req.s3ChecksumSha256) return null;
  return { sizeBytes: req.sizeBytes, checksumSha256: req.checksumSha256 };
}

/**
 * Confirms a tus upload without reading it back: the API hashed every byte as it streamed
 * through, part after part, and the store's ETag confirmed each part held those bytes
 * (lib/uploads/sha256Stream.ts), and the assembled object's ETag says it is made of exactly those
 * parts. Answers null when some part was not confirmed (the caller then reads the object back).
 */
async function confirmStreamedUpload({ db, s3, bucket }: UploadDeps, uploadId: string): Promise<{ sizeBytes: number; checksumSha256: string } | null> {
  const [row, tus] = await Promise.all([completingSession(db, uploadId), findTusUpload(db, uploadId)]);
  if (!tus?.sha256_streamed || !tus.sha256_state || tus.offset_bytes !== row.size_bytes || tus.part_etags.length !== tus.part_count) return null;
  const head = await headObject(s3, { bucket, key: row.object_key });
  if (!head) return missingObject(db, uploadId, `the assembled object ${row.object_key} is not in the store`);
  // Assembled from other parts than those recorded (one written again after it was hashed): the hash is not theirs.
  if (head.etag !== multipartEtag(tus.part_etags)) return null;
  if (head.sizeBytes !== row.size_bytes) {
    throw ApplicationFailure.nonRetryable(`size mismatch: ${head.sizeBytes} bytes stored, ${row.size_bytes} declared`, UploadFailure.sizeMismatch);
  }
  const checksumSha256 = await digestOf(tus.sha256_state);
  if (row.checksum_sha256 !== null && row.checksum_sha256 !== checksumSha256) {
    throw ApplicationFailure.nonRetryable(
      `checksum mismatch: the bytes hash to ${checksumSha256}, ${row.checksum_sha256} was declared`,
      UploadFailure.checksumMismatch,
    );
  }
  return { sizeBytes: row.size_bytes, checksumSha256 };
}

/**
 * Confirms a chunked upload whose parts the API hashed in order, without reading it back: the
 * assembled object's ETag is made of its parts' MD5s, so it matches only when the store
 * assembled exactly the parts hashed. Answers null otherwise (the caller then reads it back).
 */
async function confirmStreamedParts(
  { db, s3, bucket }: UploadDeps,
  req: {
    /** Absent in runs scheduled before it was passed. */
    uploadId?: string;
    objectKey: string;
    sizeBytes: number;
    checksumSha256: string;
    multipartEtag: string;
    declaredChecksumSha256?: string;
  },
): Promise<{ sizeBytes: number; checksumSha256: string } | null> {
  const head = await headObject(s3, { bucket, key: req.objectKey });
  if (!head) return missingObject(db, req.uploadId, `the assembled object ${req.objectKey} is not in the store`);
  if (head.etag !== req.multipartEtag || head.sizeBytes !== req.sizeBytes) return null;
  if (req.declaredChecksumSha256 !== undefined && req.declaredChecksumSha256 !== req.checksumSha256) {
    throw ApplicationFailure.nonRetryable(
      `checksum mismatch: the bytes hash to ${req.checksumSha256}, ${req.declaredChecksumSha256} was declared`,
      UploadFailure.checksumMismatch,
    );
  }
  return { sizeBytes: req.sizeBytes, checksumSha256: req.checksumSha256 };
}

/**
 * Reads the stored object back and hashes it: what is committed is what S3 holds, not what
 * anybody said was sent. Heartbeats its progress while it reads.
 */
async function verifyObject(
  { db, s3, bucket }: UploadDeps,
  req: {
    uploadId: string;
    objectKey: string;
    expectedSizeBytes?: number;
    expectedChecksumSha256?: string;
  },
): Promise<{ sizeBytes: number; checksumSha256: string }> {
  const ctx = Context.current();
  const { sha256: checksumSha256, sizeBytes } = await hashObject(
    s3,
    { bucket, key: req.objectKey },
    { signal: ctx.cancellationSignal, onBytes: (bytesRead) => ctx.heartbeat({ bytesRead }) },
  ).catch((err: unknown) => (isNotFound(err) ? missingObject(db, req.uploadId, `the object ${req.objectKey} is not in the store`) : Promise.reject(err)));
  if (req.expectedSizeBytes !== undefined && sizeBytes !== req.expectedSizeBytes) {
    throw ApplicationFailure.nonRetryable(`size mismatch: ${sizeBytes} bytes stored, ${req.expectedSizeBytes} declared`, UploadFailure.sizeMismatch);
  }
  if (req.expectedChecksumSha256 !== undefined && checksumSha256 !== req.expectedChecksumSha256) {
    throw ApplicationFailure.nonRetryable(
      `checksum mismatch: the stored bytes hash to ${checksumSha256}, ${req.expectedChecksumSha256} was declared`,
      UploadFailure.checksumMismatch,
    );
  }
  return { sizeBytes, checksumSha256 };
}

/**
 * Commits the verified bytes as the session's version, its type decided by what its first bytes are
 * (sniffedBytesOf); then no multipart upload at its key is the
 * session's (the one it completed is no longer open), and any still open there is aborted (abortUploadsAt),
 * unless none was ever begun there (`multipart` false: a staged object the API put in one request).
 */
async function commitUpload(
  deps: UploadDeps,
  verified: { uploadId: string; sizeBytes: number; checksumSha256: string; ifMatch?: string },
): Promise<CommittedVersion> {
  return commitVersion(deps, verified, { multipart: true });
}

async function commitVersion(
  { config, db, s3, bucket, audit, assetCache }: UploadDeps,
  { uploadId, ifMatch, ...verified }: { uploadId: string; sizeBytes: number; checksumSha256: string; ifMatch?: string },
  { multipart }: { multipart: boolean },
): Promise<CommittedVersion> {
  const sniffed = await sniffedBytesOf({ db, s3, bucket }, uploadId, verified.sizeBytes);
  const committed = await commitUploadedVersion(db, uploadId, { ...verified, sniffed }, config.versions.max, audit, ifMatch).catch(failIfFinal);
  await pausePoint('version-committed', [uploadId, committed.assetId]);
  if (multipart) await abortUploadsAt(s3, bucket, objectKeyFor(committed.assetId, committed.versionId));
  await assetCache?.invalidate([committed.assetId]);
  return committed;
}

/**
 * What the verified object's first bytes are, read with one ranged GET, for its commit to decide its
 * type (lib/uploads/contentType.ts): every kind of upload is committed here, so all agree. A copy is
 * never refused for them: a restore brings back bytes that were stored once. A session committed
 * already (a retried commit), or one whose declared type the bytes cannot change, needs no read.
 */
async function sniffedBytesOf(
  { db, s3, bucket }: Pick<UploadDeps, 'db' | 's3' | 'bucket'>,
  uploadId: string,
  sizeBytes: number,
): Promise<SniffedBytes | undefined> {
  const row = await findUploadSession(db, uploadId);
  if (!row || row.status === 'completed') return undefined;
  const refuses = row.kind !== 'copy';
  // A declared type the bytes cannot change (a PDF sent as application/pdf) costs no read of the store.
  if (!typeDependsOnBytes({ declared: row.content_type, refuses })) return undefined;
  const head = await readFirstBytes(s3, { bucket, key: row.object_key, sizeBytes }, SNIFF_BYTES).catch((err: unknown) =>
    isNotFound(err) ? missingObject(db, uploadId, `the object ${row.object_key} is not in the store`) : Promise.reject(err),
  );
  const detected = await detectedTypeOf(head);
  await pausePoint('type-sniffed', row.asset_id ? [uploadId, row.asset_id] : [uploadId]);
  return { detected, refuses };
}

const MULTIPART_CHECKSUM = /-\d+$/;

/**
 * A staged upload's finish in one local activity, which the workflow would otherwise run as three
 * (BENCHMARKS.md, row 5): markCompleting, confirmStagedObject, commitUpload. Each is idempotent,
 * so a retry runs them all again. Answers null, having only marked the session completing, when
 * the store reports no checksum or another than predicted (the workflow then reads the object back and commits).
 */
async function finishStagedUpload(
  deps: UploadDeps,
  req: {
    uploadId: string;
    details?: UploadDetails;
    objectKey: string;
    sizeBytes: number;
    checksumSha256: string;
    s3ChecksumSha256: string;
    declaredChecksumSha256?: string;
    ifMatch?: string;
  },
): Promise<CommittedVersion | null> {
  const { uploadId, details, ifMatch, ...staged } = req;
  await markCompleting(deps, { uploadId, details });
  // With its id, a staged object found missing fails for good when its session went meanwhile.
  const verified = await confirmStagedObject(deps, { uploadId, ...staged });
  // A multipart object's checksum names its part count (lib/platform/staging.ts); one put whole began no multipart upload.
  return verified && commitVersion(deps, { uploadId, ...verified, ifMatch }, { multipart: MULTIPART_CHECKSUM.test(staged.s3ChecksumSha256) });
}

/**
 * Removes the oldest noncurrent versions beyond STORAGE_MAX_VERSIONS: claimed (re-checked and marked
 * under the asset's lock: lib/assets/versions.ts claimVersionsBeyond) and handed to running backups
 * (lib/backups/handoff.ts), then object, then row, with its audit row acting for the upload's actor.
 */
async function pruneVersions(deps: UploadDeps, assetId: string, actor?: ActorRef): Promise<{ pruned: number }> {
  const { config, db, s3, bucket, audit, assetCache } = deps;
  const requestId = Context.current().info.workflowExecution?.workflowId;
  let pruned = 0;
  const picked = await versionsBeyond(db, assetId, config.versions.max);
  if (picked.length) await pausePoint('versions-picked', [assetId]);
  const beyond = await claimVersionsBeyond(
    db,
    assetId,
    config.versions.max,
    picked.map((v) => v.id),
  );
  if (beyond.length) await pausePoint('versions-claimed', [assetId]);
  await handOffToBackups(handoffDepsOf(deps), beyond);
  for (const version of beyond) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: version.object_key }));
    pruned += await db.transaction(async (trx) => {
      const removed = await deleteVersionRows(trx, [version.id]);
      const subjects = removed.map((v) => ({ asset_id: v.asset_id, version_id: v.id }));
      await audit(
        trx,
        subjects.map((s) => ({ actor: runActorOf({ actor }), action: 'version.prune', outcome: 'completed', subjects: s, requestId })),
      );
      return removed.length;
    });
    await assetCache?.invalidate([assetId]);
  }
  return { pruned };
}

/**
 * Ends a session that will not become a version: its bytes go (multipart upload aborted, staged
 * object deleted). A chunked session keeps its row with the final status; a simple upload, whose
 * id the client never saw unless it was told 202, leaves no row unless it failed after complete.
 */
async function discardUpload(
  { db, s3, bucket, audit }: UploadDeps,
  { uploadId, status, error, objectKey }: { uploadId: string; status: 'aborted' | 'expired' | 'failed'; error: string | null; objectKey?: string },
): Promise<DiscardOutcome> {
  const row = await findUploadSession(db, uploadId);
  if (!row) {
    // No row (an open that lost a race with its asset's deletion for good, its multipart upload begun
    // after the deletion looked): what was begun at the session's key is aborted all the same.
    if (objectKey) await abortUploadsAt(s3, bucket, objectKey);
    return null;
  }
  // Committed already: by a finish that ran in a workflow task the server then refused (a signal
  // came in while it ran), its run replaying down another path. The version stands; the run says so.
  if (row.status === 'completed') return { committed: { assetId: row.result_asset_id!, versionId: row.version_id! } };
  await discardSessionBytes(s3, bucket, row);
  await db.transaction(async (trx) => {
    if (row.kind === 'simple' && status !== 'failed') await deleteUploadSession(trx, uploadId);
    else await setSessionEnded(trx, uploadId, status, error);
    const subjects = { upload_id: uploadId, ...(row.asset_id ? { asset_id: row.asset_id } : {}) };
    // A retried discard finds its own status: the row was written the first time.
    if (row.status !== status) await audit(trx, { actor: runActorOf(row), action: 'upload.discard', outcome: status, subjects, requestId: row.workflow_id });
  });
  return null;
}

/**
 * What a run waiting for its client reads of its session: its status, and how long since its client
 * last showed it was sending. Parts sent by presigned URL never pass the API, so a chunked session the
 * row calls stalled is checked against S3's part listing (when its last part arrived) before it is.
 */
async function sessionProgress(
  { db, s3, bucket }: UploadDeps,
  { uploadId, stallSeconds }: { uploadId: string; stallSeconds: number },
): Promise<SessionProgress> {
  const row = await sessionProgressOf(db, uploadId);
  if (!row) return { status: 'gone', idleSeconds: 0, result: null, error: null };
  const result = row.status === 'completed' ? { assetId: row.result_asset_id, versionId: row.version_id } : null;
  let idleSeconds = Number(row.idle_seconds);
  if (idleSeconds >= stallSeconds && row.kind === 'chunked' && row.status === 'open' && row.s3_upload_id) {
    const parts = await listStoredParts(s3, bucket, row.object_key, row.s3_upload_id).catch((err: unknown) => {
      // Aborted under the run (its asset deleted): no part will come.
      if ((err as { name?: string }).name === 'NoSuchUpload') return [];
      throw err;
    });
    const lastPart = Math.max(0, ...parts.map((p) => p.lastModified ?? 0));
    if (lastPart > 0) idleSeconds = Math.min(idleSeconds, (Date.now() - lastPart) / 1000);
  }
  return { status: row.status, idleSeconds, result, error: row.error };
}

/**
 * The session a run works on, open or finishing. A permanent deletion of its asset ends it under the
 * run (aborts it, removes its objects, then its row with the asset's): no retry brings it back.
 */
async function completingSession(db: ActivityDeps['db'], uploadId: string): Promise<UploadSessionRow> {
  const row = await findUploadSession(db, uploadId);
  if (!row || row.status === 'aborted')
    throw ApplicationFailure.nonRetryable(`upload ${uploadId} was ended meanwhile (its asset deleted)`, UploadFailure.assetGone);
  return row;
}

/** An object missing from the store: for good when its session was ended meanwhile; otherwise retried, as any other failure to read the store. */
async function missingObject(db: ActivityDeps['db'], uploadId: string | undefined, message: string): Promise<never> {
  if (uploadId) await completingSession(db, uploadId);
  throw new Error(message);
}

/**
 * Aborts the assets bucket's multipart uploads that no open or completing session writes to, once no
 * writer can still be at them (lib/uploads/incompleteUploads.ts): what an API or a worker that died
 * mid-write left. Bounded per call; the lifecycle run calls it once per run.
 */
async function abortIncompleteUploads({ config, db, s3, bucket }: UploadDeps): Promise<IncompleteUploadsSwept> {
  return abortUnownedUploads(db, s3, bucket, { olderThan: new Date(Date.now() - (await unownedUploadAgeSeconds(config, db)) * 1000) });
}

// After its request's body has arrived, what an API still does to a staged upload: its last parts and the completion.
const STAGING_TAIL_SECONDS = 60;

/**
 * How old an upload no session owns must be before it is aborted. A simple upload's multipart upload
 * is the API's, begun after the API wrote the session row (its open, owned while it stages); but the
 * run may end without a commit while the API still stages (its asset deleted for good: the discard
 * finds no row, or deletes a simple session's), and an API that then dies leaves what it began after.
 * Its request arrives whole within the API's request timeout, or not at all: past that (and the
 * staging's tail), no API writes to it. A backup's or a restore's copies have no session row: while
 * one runs, the bound is a session's expiry, as before there was this one.
 */
async function unownedUploadAgeSeconds(config: UploadDeps['config'], db: UploadDeps['db']): Promise<number> {
  const jobs = await countJobsByKindAndStatus(db);
  if (jobs.some((j) => j.n > 0 && (j.status === 'pending' || j.status === 'running'))) return config.uploads.expiryHours * 3600;
  return Math.ceil(config.http.requestTimeoutMs / 1000) + STAGING_TAIL_SECONDS;
}

function missingNumbers(parts: Array<{ partNumber: number }>, count: number): number[] {
  const stored = new Set(parts.map((p) => p.partNumber));
  return Array.from({ length: count }, (_, i) => i + 1).filter((n) => !stored.has(n));
}

/** An asset deleted under an upload is final, and so are a quota passed, access revoked and bytes of another type than declared: no retry changes them. */
function failIfFinal(err: unknown): never {
  if (err instanceof AssetGoneError) throw ApplicationFailure.nonRetryable(err.message, UploadFailure.assetGone);
  // The session's row went with its asset's (a permanent deletion) while the run finished it.
  if (err instanceof NotFoundError) throw ApplicationFailure.nonRetryable(err.message, UploadFailure.assetGone);
  if (err instanceof AccessRevokedError) throw ApplicationFailure.nonRetryable(err.message, UploadFailure.accessRevoked);
  if (err instanceof StaleRevisionError) throw ApplicationFailure.nonRetryable(err.message, UploadFailure.staleRevision);
  if (err instanceof QuotaExceededError) throw quotaFailure(err);
  if (err instanceof ContentTypeMismatchError) {
    throw ApplicationFailure.create({ type: UploadFailure.contentTypeMismatch, message: err.message, details: [err.facts], nonRetryable: true });
  }
  // An event's upload run again after its version was made: it ends without touching the version's bytes.
  if (err instanceof UploadMadeBeforeError) throw ApplicationFailure.nonRetryable(err.message, UploadFailure.notOpen);
  throw err;
}

/** The refusal as the workflow carries it to the API, which answers it as it would have: 507 with the same facts. */
export function quotaFailure(err: QuotaExceededError): ApplicationFailure {
  return ApplicationFailure.create({ type: UploadFailure.quotaExceeded, message: err.message, details: [err.facts], nonRetryable: true });
}

/**
 * A step whose time grows with the object (one S3 call that assembles or copies it, a prune's deletes),
 * heartbeating every few seconds meanwhile: a worker that dies in it is noticed within the step's
 * heartbeat timeout (workflows/uploads/workflow.ts), not its hour.
 */
export function heartbeating<D, A extends unknown[], R>(activity: (deps: D, ...args: A) => Promise<R>) {
  return (deps: D, ...args: A): Promise<R> => {
    const ctx = Context.current();
    return withTicker(
      () => ctx.heartbeat(),
      () => activity(deps, ...args),
    );
  };
}

/** The activities by name: workflows and recorded histories use these names. */
const uploadActivities = {
  openUpload,
  checkParts,
  markCompleting,
  assembleParts: heartbeating(assembleParts),
  copyObject: heartbeating(copyObject),
  confirmStagedObject,
  confirmStreamedUpload,
  confirmStreamedParts,
  verifyObject,
  commitUpload,
  finishStagedUpload,
  pruneVersions: heartbeating(pruneVersions),
  discardUpload,
  sessionProgress,
  abortIncompleteUploads,
};

export function createUploadActivities(deps: ActivityDeps) {
  const uploadDeps: UploadDeps = { ...deps, bucket: deps.config.s3.bucket, audit: auditWriterOf(deps.config.audit.enabled) };
  return bindActivities(uploadDeps, uploadActivities);
}

export type UploadActivities = ReturnType<typeof createUploadActivities>;
