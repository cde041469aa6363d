import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConflictError, PayloadTooLargeError, QuotaExceededError } from '../../lib/platform/errors';
import { StreamReservation, reserveUploadBytes } from '../../lib/quotas/reservations';
import { openSource, SourceRefusedError, SourceUnavailableError } from '../../lib/uploads/sourceFetch';
import { stageToS3, type StagedObject } from '../../lib/platform/staging';
import { findUploadSession } from '../../lib/uploads/store';
import { UploadFailure } from '../../workflows/uploads/definitions';
import type { ActivityDeps } from '../deps';
import { heartbeating, quotaFailure } from './uploads';
import { bindActivities } from './bindActivities';

/**
 * How many times a source that may come back (a refused connection, a 5xx, a timeout) is tried. The
 * upload workflow's retry policy spaces the tries 0.5, 1, 2 and 4 s apart; counted by the server's
 * attempt number, so a run started before this bound stops at its next try too.
 */
export const INGEST_ATTEMPTS = 5;

/** How long before the server's timeout an attempt gives up, so that its own final failure is the one recorded. */
const ATTEMPT_MARGIN_MS = 60_000;

function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: UploadFailure.sourceRejected, message, nonRetryable: true });
}

/**
 * Streams a URL's body into S3 at the new version's key, hashing it on the way (lib/uploads/sourceFetch.ts
 * checks the host, its addresses and every redirect). A refusal (host, address, scheme, size, the
 * owner's quota, a 4xx, a TLS failure) is final; a source that may come back is tried INGEST_ATTEMPTS times.
 * Only an open or completing session's key is written (see sessionToFetchInto).
 */
async function fetchSource(
  { config, db, s3 }: ActivityDeps,
  { uploadId, url, objectKey }: { uploadId: string; url: string; objectKey: string },
): Promise<StagedObject> {
  const committed = await sessionToFetchInto(db, uploadId);
  if (committed) return committed;
  const { attempt, startToCloseTimeoutMs } = Context.current().info;
  const maxSize = config.uploads.maxSizeBytes;
  try {
    const source = await openSource(url, {
      allowedHosts: config.ingest.allowedHosts,
      timeoutMs: config.ingest.timeoutSeconds * 1000,
      // Given up by the attempt itself, before the server times it out: a retry must not write beside
      // it, and a timeout the server saw first would be retried, past INGEST_ATTEMPTS, until the upload expires.
      attemptMs: startToCloseTimeoutMs - ATTEMPT_MARGIN_MS,
    });
    if (source.declaredBytes !== undefined && source.declaredBytes > maxSize) {
      source.body.destroy();
      throw rejected(`the source is ${source.declaredBytes} bytes, over the limit of ${maxSize}`);
    }
    // A retry streams from the start again, within what the earlier tries reserved.
    const reservation = new StreamReservation((total) => reserveUploadBytes(db, config.quotas, uploadId, total));
    return await stageToS3(s3, config.s3.bucket, objectKey, source.body, maxSize, { reservation });
  } catch (err) {
    if (err instanceof SourceRefusedError || err instanceof PayloadTooLargeError) throw rejected(err.message);
    if (err instanceof QuotaExceededError) throw quotaFailure(err);
    // The session was ended under the fetch (aborted, or its asset deleted): no retry reopens it.
    if (err instanceof ConflictError) throw ApplicationFailure.create({ type: UploadFailure.notOpen, message: err.message, nonRetryable: true });
    if (err instanceof SourceUnavailableError) {
      if (attempt >= INGEST_ATTEMPTS) throw rejected(`${err.message} (gave up after ${attempt} attempts)`);
      throw ApplicationFailure.retryable(err.message, 'SourceUnavailable');
    }
    throw err;
  }
}

/**
 * Whether the session may be fetched into. Its key is the version's once it is committed: a run of an
 * upload that has committed (an event delivered again after Temporal forgot the first run) writes
 * nothing, and goes on with what the commit recorded, which the run reads back and commits again (a
 * no-op). A session that ended otherwise is not fetched into either (an empty body needs no room in the
 * quota, so no reservation would stop it).
 */
async function sessionToFetchInto(db: ActivityDeps['db'], uploadId: string): Promise<StagedObject | undefined> {
  const session = await findUploadSession(db, uploadId);
  if (session?.status === 'completed') {
    // No store checksum: the run then reads the object back rather than trusting this answer.
    return { sizeBytes: session.size_bytes, checksumSha256: session.checksum_sha256!, s3ChecksumSha256: '' };
  }
  if (session?.status === 'open' || session?.status === 'completing') return undefined;
  throw ApplicationFailure.create({
    type: UploadFailure.notOpen,
    message: `upload ${uploadId} is ${session?.status ?? 'gone'}: nothing is fetched`,
    nonRetryable: true,
  });
}

export function createIngestActivities(deps: ActivityDeps) {
  return bindActivities(deps, { fetchSource: heartbeating(fetchSource) });
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;
