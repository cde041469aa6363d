import type { Request, Response } from 'express';
import type { Config } from '../../lib/platform/config';
import { DomainError, ServiceUnavailableError } from '../../lib/platform/errors';
import { outcomeOfCompleting, type CompleteOutcome, type UploadClient } from '../../lib/uploads/uploadRuns';
import { noteAuditSubjects } from '../middleware/auditTrail';
import { resumedUploadOf, runAnewIfUploadEnded } from '../middleware/idempotency';
import { applyPreference, operationFieldsOf, preferredWait, setAccepted, type PreferredWait } from './operations';

// How soon the catalog that could not be read may answer again.
const COMMITTED_RETRY_SECONDS = 2;

/**
 * 202 for an upload whose finishing outlasted the wait (or was asked not to be waited for, Prefer:
 * wait=0): the workflow goes on, the client follows Location (its operation, upload-{id}) or
 * status_url (its session).
 */
export function sendUploadAccepted(res: Response, uploadId: string, wait?: PreferredWait): void {
  noteAuditSubjects(res, { upload_id: uploadId });
  applyPreference(res, wait);
  const operationId = `upload-${uploadId}`;
  setAccepted(res, operationId).json({ upload_id: uploadId, status_url: `/api/v2/uploads/${uploadId}`, ...operationFieldsOf(operationId) });
}

/** How long an upload's request waits for its commit: `Prefer: wait=N`, else STORAGE_UPLOAD_WAIT_SECONDS. */
export function uploadWaitOf(req: Request, config: Pick<Config, 'http' | 'uploads'>): { wait: PreferredWait | undefined; waitMs: number } {
  const wait = preferredWait(req, config.http.requestTimeoutMs);
  return { wait, waitMs: wait?.ms ?? config.uploads.waitSeconds * 1000 };
}

/**
 * Answers an upload that was committed with what `send` reads back. A commit that succeeded is never
 * answered as a failure: when the read-back fails (the catalog unreachable, overloaded), the answer is
 * 503 with the `upload_id` and Retry-After; its status, or the same request with its Idempotency-Key,
 * then gives the committed result. An error the request itself explains (a 4xx) goes as it is.
 */
export async function answerCommitted(res: Response, uploadId: string, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (err instanceof DomainError && !(err instanceof ServiceUnavailableError)) throw err;
    noteAuditSubjects(res, { upload_id: uploadId });
    const detail = `upload ${uploadId} was committed, but its result could not be read: its status (status_url), or this request again with its Idempotency-Key, gives it`;
    throw Object.assign(new ServiceUnavailableError(detail, COMMITTED_RETRY_SECONDS, { upload_id: uploadId, status_url: `/api/v2/uploads/${uploadId}` }), {
      cause: err,
    });
  }
}

export type UploadOutcome = CompleteOutcome & { uploadId: string };

/**
 * The outcome of the upload `start` makes; or, for a request repeated with its Idempotency-Key whose
 * first attempt reached the commit, that upload's outcome (waited for up to `waitMs`), nothing uploaded
 * again. Unless that upload ended without a commit after all (its session failed, aborted, expired, or
 * gone): it made nothing, so the request runs anew once it holds the key (runAnewIfUploadEnded), or
 * is told to wait (409) while another attempt does; `start` must read the key's recorder only when called.
 */
export async function newOrResumedUpload(res: Response, uploads: UploadClient, waitMs: number, start: () => Promise<UploadOutcome>): Promise<UploadOutcome> {
  const resumed = resumedUploadOf(res);
  if (!resumed) return start();
  try {
    return { ...(await outcomeOfCompleting(uploads, resumed, waitMs)), uploadId: resumed };
  } catch (err) {
    if (await runAnewIfUploadEnded(res)) return start();
    throw err;
  }
}
