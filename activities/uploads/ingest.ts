import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConflictError, PayloadTooLargeError, QuotaExceededError } from '../../lib/platform/errors';
import { StreamReservation, reserveUploadBytes } from '../../lib/quotas/reservations';
import { openSource, SourceRefusedError, SourceUnavailableError } from '../../lib/uploads/sourceFetch';
import { stageToS3, type StagedObject } from '../../lib/platform/staging';
import { UploadFailure } from '../../workflows/uploads/definitions';
import type { ActivityDeps } from '../deps';
import { quotaFailure } from './uploads';
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
 */
async function fetchSource(
  { config, db, s3 }: ActivityDeps,
  { uploadId, url, objectKey }: { uploadId: string; url: string; objectKey: string },
): Promise<StagedObject> {
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

export function createIngestActivities(deps: ActivityDeps) {
  return bindActivities(deps, { fetchSource });
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;
