import { ApplicationFailure } from '@temporalio/common';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { PayloadTooLargeError, QuotaExceededError } from '../../lib/platform/errors';
import { StreamReservation, reserveUploadBytes } from '../../lib/quotas/reservations';
import { sourceUrlProblem } from '../../lib/uploads/ingest';
import { stageToS3, type StagedObject } from '../../lib/platform/staging';
import { UploadFailure } from '../../workflows/uploads/definitions';
import type { ActivityDeps } from '../deps';
import { quotaFailure } from './uploads';

const MAX_REDIRECTS = 5;

/** A TLS failure is the source's own and comes back on every try (a plain-HTTP port, a bad certificate). */
const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_)|CERT/;

function tlsFailureOf(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: unknown; message?: string } }).cause;
  return typeof cause?.code === 'string' && TLS_FAILURE.test(cause.code) ? cause.code : undefined;
}

function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: UploadFailure.sourceRejected, message, nonRetryable: true });
}

export function createIngestActivities({ config, db, s3 }: ActivityDeps) {
  return {
    /**
     * Streams a URL's body into S3 at the new version's key, hashing it on the way; follows redirects
     * only to allowed hosts. A refusal (host, scheme, size, the owner's quota, a 4xx, a TLS failure) is final; a 5xx or
     * a network error is retried, until the upload would expire.
     */
    async fetchSource({ uploadId, url, objectKey }: { uploadId: string; url: string; objectKey: string }): Promise<StagedObject> {
      let current = url;
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const problem = sourceUrlProblem(current, config.ingest.allowedHosts);
        if (problem) throw rejected(hop === 0 ? problem : `redirected to a URL that may not be fetched: ${problem}`);
        let res: Response;
        try {
          res = await fetch(current, { redirect: 'manual', signal: AbortSignal.timeout(10 * 60_000) });
        } catch (err) {
          const tls = tlsFailureOf(err);
          if (tls) throw rejected(`fetching ${current} failed in TLS (${tls})`);
          throw err;
        }
        if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
          await res.body?.cancel();
          current = new URL(res.headers.get('location')!, current).toString();
          continue;
        }
        if (!res.ok || !res.body) {
          await res.body?.cancel();
          const message = `fetching ${current} answered ${res.status}`;
          if (res.status >= 400 && res.status < 500) throw rejected(message);
          throw new Error(message);
        }
        const declared = Number(res.headers.get('content-length') ?? NaN);
        if (declared > config.uploads.maxSizeBytes) {
          await res.body.cancel();
          throw rejected(`the source is ${declared} bytes, over the limit of ${config.uploads.maxSizeBytes}`);
        }
        try {
          // A retry streams from the start again, within what the earlier tries reserved.
          const reservation = new StreamReservation((total) => reserveUploadBytes(db, config.quotas, uploadId, total));
          return await stageToS3(s3, config.s3.bucket, objectKey, Readable.fromWeb(res.body as WebReadableStream), config.uploads.maxSizeBytes, {
            reservation,
          });
        } catch (err) {
          if (err instanceof PayloadTooLargeError) throw rejected(err.message);
          if (err instanceof QuotaExceededError) throw quotaFailure(err);
          throw err;
        }
      }
      throw rejected(`more than ${MAX_REDIRECTS} redirects`);
    },
  };
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;
