/**
 * The API's side of uploadWorkflow: open a session, complete it, abort it, read its status. Each
 * maps the workflow's failures to the domain errors the API answers with.
 */
import {
  WithStartWorkflowOperation,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  isGrpcDeadlineError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import {
  UploadFailure,
  abortSignal,
  completeUpdate,
  openedUpdate,
  statusQuery,
  type CompleteRequest,
  type UploadInput,
  type UploadResult,
  type UploadState,
  type UploadWorkflow,
} from '../../workflows/uploads/definitions';
import { AccessRevokedError } from './sessionAccess';
import type { UploadSessionRow } from './sessionRow';
import { AssetGoneError, getUploadSession, insertUploadSession, uploadWorkflowId } from './sessions';
import { findUploadSession } from './store';
import { refusedTypesIn } from './contentType';
import type { QuotaDefaults } from '../quotas/quotas';
import { waitAtMost } from '../platform/concurrency';
import { uuidv7 } from '../platform/ids';
import {
  ConflictError,
  ContentTypeMismatchError,
  MissingPartsError,
  DomainError,
  NotFoundError,
  OperationFailedError,
  QuotaExceededError,
  ServiceUnavailableError,
  StaleRevisionError,
  UnprocessableError,
  type ErrorFacts,
} from '../platform/errors';
import { runSearchAttributes, workflowWorkersPolling, type WorkflowAccess } from '../platform/temporal';
import { actorRef, type ActorRef } from '../auth/actor';

const LIVE_STATUS_WAIT_MS = 2000;
// Opening takes one workflow task; this long means no worker is taking them.
const OPEN_WAIT_MS = 10_000;
const ABORT_SIGNAL_WAIT_MS = 2000;
// A simple upload's `complete` waits this long at a time before the API asks whether a worker polls.
const TAKE_SLICE_MS = 10_000;
// How long an abort is retried: under a burst the server may be slow to answer, and a lost abort leaves the session to its expiry.
const ABORT_DELIVERY_MS = 15_000;
const NOT_TAKEN_RETRY_SECONDS = 5;

export type UploadClient = WorkflowAccess;

function handleOf(uc: UploadClient, uploadId: string): WorkflowHandle<UploadWorkflow> {
  return uc.client.workflow.getHandle<UploadWorkflow>(uploadWorkflowId(uploadId));
}

/**
 * Starts the session's workflow and returns once the session is open (row written, multipart upload
 * created), waiting at most OPEN_WAIT_MS: with no worker to open it, the answer is 503 with the
 * `upload_id`, and the run is told to abort, so a session it opens later ends at once. The run acts for `actor`.
 */
export async function openUploadSession(uc: UploadClient, actor: ActorRef, input: UploadInput): Promise<UploadState> {
  const start = new WithStartWorkflowOperation<UploadWorkflow>('uploadWorkflow', {
    workflowId: uploadWorkflowId(input.uploadId),
    taskQueue: uc.taskQueue,
    args: [{ ...input, actor: actorRef(actor) }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // An upload's id is never used twice: a repeat (an event delivered again) finds the run, or its end.
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: runSearchAttributes({ operation: 'upload', actor, assetId: input.assetId }),
  });
  const deadline = Date.now() + OPEN_WAIT_MS;
  try {
    return await uc.client.connection.withDeadline(deadline, () => uc.client.workflow.executeUpdateWithStart(openedUpdate, { startWorkflowOperation: start }));
  } catch (err) {
    // Past the deadline the SDK reports a deadline error, an update timeout or a wrapped one: all mean no answer came.
    const timedOut = err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err) || Date.now() >= deadline;
    if (!timedOut) throw toDomainError(err, input.uploadId);
    // The run exists, and a worker may take it later: told to abort, it ends what it opens instead of
    // leaving a session, its multipart upload and its reservation to the stall bound.
    await deliverAbort(uc, input.uploadId, 'not opened in time: no worker answered');
    const detail = `upload ${input.uploadId} was not opened within ${OPEN_WAIT_MS} ms: no worker answered. It is being aborted; its status (upload_id) tells how it ended`;
    throw new ServiceUnavailableError(detail, 5, { upload_id: input.uploadId });
  }
}

/**
 * Starts a simple upload: its run first, without waiting for a worker, then the session's row, written
 * by the API with the same idempotent insert the run's open makes (the quota is checked and the
 * bytes reserved there, before the first byte is staged). The run exists before the row, and the row
 * before the bytes, so whatever an API that dies leaves behind is the run's to remove at its expiry.
 * The run opens while the bytes stream; the `complete` that follows is what waits for a worker
 * (completeStartedUpload). This saves the `opened` update and its wait (BENCHMARKS.md, row 5).
 */
export async function startSimpleUpload(uc: UploadClient, actor: ActorRef, input: UploadInput, quotas: QuotaDefaults): Promise<void> {
  // The run and the row act for the caller: the row's actor is whom the commit's audit row names.
  const acting = { ...input, actor: actorRef(actor) };
  await uc.client.workflow.start<UploadWorkflow>('uploadWorkflow', {
    workflowId: uploadWorkflowId(input.uploadId),
    taskQueue: uc.taskQueue,
    args: [acting],
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: runSearchAttributes({ operation: 'upload', actor, assetId: input.assetId }),
  });
  try {
    await insertUploadSession(uc.db, acting, quotas);
  } catch (err) {
    // The run's own open refuses it the same way, and ends.
    if (err instanceof AssetGoneError) throw new NotFoundError(err.message);
    // Anything else (the database overloaded, a quota refusal): the run is told to end, so its own
    // open does not leave a session waiting for a complete that never comes until it expires.
    await deliverAbort(uc, input.uploadId);
    throw err;
  }
}

/**
 * `complete` for a run startSimpleUpload started: the first call that needs a worker. It waits while
 * a worker polls the queue, busy or not (a burst queues behind the runs before it), until `takeBy`
 * (at least TAKE_SLICE_MS); then, or as soon as no worker polls at all, the answer is 503 with the
 * `upload_id`, and the run is told to abort: taking the abort (with the `complete`, should that
 * still come), it ends and removes the staged bytes as soon as a worker runs it. Once taken, the
 * outcome is waited for up to `waitMs`.
 */
export async function completeStartedUpload(
  uc: UploadClient,
  uploadId: string,
  request: CompleteRequest,
  waitMs: number,
  takeBy: number,
): Promise<CompleteOutcome> {
  const handle = handleOf(uc, uploadId);
  const updateId = uuidv7();
  // The same update id each time: a repeat joins the update the server already holds.
  const take = () => handle.startUpdate(completeUpdate, { args: [request], updateId, waitForStage: 'ACCEPTED' });
  let result: Promise<UploadResult>;
  try {
    result = (await takenWhileWorkersPoll(uc, uploadId, take, Math.max(takeBy, Date.now() + TAKE_SLICE_MS))).result();
  } catch (err) {
    if (err instanceof ServiceUnavailableError) throw err;
    return settledOutcome(uc, uploadId, err).catch((settled: unknown) => {
      throw settled instanceof NotFoundError ? endedBeforeTaken(uploadId) : settled;
    });
  }
  return outcomeWithin(result, uploadId, waitMs);
}

/**
 * What `take` answers, asked again every TAKE_SLICE_MS while a worker polls the queue and `takeBy`
 * has not passed; otherwise the run is told to abort, and the answer is a 503.
 */
async function takenWhileWorkersPoll<T>(uc: UploadClient, uploadId: string, take: () => Promise<T>, takeBy: number): Promise<T> {
  for (;;) {
    const deadline = Math.min(Date.now() + TAKE_SLICE_MS, takeBy);
    try {
      return await uc.client.connection.withDeadline(deadline, take);
    } catch (err) {
      // Past the deadline the SDK reports a deadline error, an update timeout or a wrapped one: all mean no answer came.
      const timedOut = err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err) || Date.now() >= deadline;
      if (!timedOut) throw err;
    }
    const why = Date.now() >= takeBy ? 'the workers are busy' : await noWorkerReason(uc);
    if (why === undefined) continue;
    await deliverAbort(uc, uploadId, `not taken: ${why}`);
    const detail = `upload ${uploadId} was not taken in time: ${why}. It is being aborted; its status (upload_id) tells how it ended`;
    throw new ServiceUnavailableError(detail, NOT_TAKEN_RETRY_SECONDS, { upload_id: uploadId });
  }
}

/** Why no worker will take the run, if none polls the queue (or Temporal cannot say). */
async function noWorkerReason(uc: UploadClient): Promise<string | undefined> {
  try {
    return (await workflowWorkersPolling(uc)) ? undefined : 'no worker answered (none polls its queue)';
  } catch {
    return 'Temporal did not say whether a worker polls';
  }
}

/**
 * Tells a run to abort, retrying (the connection's retries) for up to ABORT_DELIVERY_MS: a run that
 * never hears it would keep its session, reservation and bytes until its expiry. A run already
 * ended needs nothing.
 */
async function deliverAbort(uc: UploadClient, uploadId: string, reason?: string): Promise<void> {
  const signal = () => handleOf(uc, uploadId).signal(abortSignal, ...(reason === undefined ? [] : [reason]));
  await uc.client.connection.withDeadline(Date.now() + ABORT_DELIVERY_MS, signal).catch(() => {});
}

export type CompleteOutcome = { done: true; result: UploadResult } | { done: false };

/**
 * Asks the workflow to finish the upload and waits up to `waitMs` for the answer. A call made while
 * another is finishing waits for the same outcome, so completing twice yields one version and the
 * same answer; a call refused (parts missing) leaves the session open for the next one.
 */
export async function completeUploadSession(uc: UploadClient, uploadId: string, request: CompleteRequest, waitMs: number): Promise<CompleteOutcome> {
  const handle = handleOf(uc, uploadId);
  let result: Promise<UploadResult>;
  try {
    const update = await handle.startUpdate(completeUpdate, { args: [request], waitForStage: 'ACCEPTED' });
    result = update.result();
  } catch (err) {
    return settledOutcome(uc, uploadId, err);
  }
  return outcomeWithin(result, uploadId, waitMs);
}

/**
 * The outcome of a `complete` asked for before (by a request repeated with its Idempotency-Key),
 * without asking again: the commit's result, waited for up to `waitMs`, else not done yet.
 */
export async function outcomeOfCompleting(uc: UploadClient, uploadId: string, waitMs: number): Promise<CompleteOutcome> {
  const committed = async (): Promise<CompleteOutcome | undefined> => {
    const row = await getUploadSession(uc.db, uploadId);
    if (row.status === 'completed') return { done: true, result: { assetId: row.result_asset_id, versionId: row.version_id } };
    if (row.status === 'open' || row.status === 'completing') return undefined;
    return settledOutcome(uc, uploadId, new ConflictError(`upload ${uploadId} is ${row.status}`));
  };
  const now = await committed();
  if (now) return now;
  // The run's end, or the wait's: whichever comes first, the row then says how far it got.
  await waitAtMost(handleOf(uc, uploadId).result(), waitMs).catch(() => undefined);
  return (await committed()) ?? { done: false };
}

/** The accepted `complete`'s outcome if it comes within `waitMs`; past that the workflow goes on, and its outcome is read from the session later. */
async function outcomeWithin(result: Promise<UploadResult>, uploadId: string, waitMs: number): Promise<CompleteOutcome> {
  try {
    const outcome = await waitAtMost(result, waitMs);
    return outcome ? { done: true, result: outcome.value } : { done: false };
  } catch (err) {
    throw toDomainError(err, uploadId);
  }
}

// How soon a simple upload whose session ended under it may be sent again.
const SEND_AGAIN_SECONDS = 1;

/**
 * A simple upload's session gone before its `complete` was taken: its run ended it (it found the
 * session stalled while its commit waited for a busy worker, or the asset or the caller's grant went)
 * and deleted its row. The client never saw that upload: sent again, it is stored, or refused for
 * what went (404, 403).
 */
function endedBeforeTaken(uploadId: string): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `the upload ended before its commit was taken (it stalled while the service was busy, or its asset or grant went): nothing was stored; send it again`,
    SEND_AGAIN_SECONDS,
    { upload_id: uploadId },
  );
}

/** The workflow has ended (or never ran): answer from the session's row. */
async function settledOutcome(uc: UploadClient, uploadId: string, err: unknown): Promise<CompleteOutcome> {
  if (err instanceof WorkflowUpdateFailedError) throw toDomainError(err, uploadId);
  const row = await findUploadSession(uc.db, uploadId);
  if (!row) throw new NotFoundError(`upload ${uploadId} not found`);
  if (row.status === 'completed') return { done: true, result: { assetId: row.result_asset_id, versionId: row.version_id } };
  if (row.status === 'failed') throw failedSessionError(row.error, uploadId);
  if (row.status === 'aborted' || row.status === 'expired') throw new ConflictError(`upload ${uploadId} is ${row.status}`);
  throw err;
}

/** A failed session's error, as the failure that ended it was answered: 415 for its content type (read back from its message), else 422. */
function failedSessionError(error: string | null, uploadId: string): DomainError {
  const refused = refusedTypesIn(error);
  if (refused) return new ContentTypeMismatchError(error!, { declared_type: refused.declared, detected_type: refused.detected, upload_id: uploadId });
  return new UnprocessableError(error ?? 'upload failed', { upload_id: uploadId });
}

function toDomainError(err: unknown, uploadId: string): unknown {
  if (!(err instanceof WorkflowUpdateFailedError)) return err;
  const failure = err.cause;
  if (!(failure instanceof ApplicationFailure)) return err;
  switch (failure.type) {
    case UploadFailure.missingParts:
      return new MissingPartsError(failure.message, (failure.details?.[0] as number[] | undefined) ?? []);
    case UploadFailure.checksumMismatch:
    case UploadFailure.sizeMismatch:
    case UploadFailure.invalidData:
      return new UnprocessableError(failure.message, { upload_id: uploadId });
    case UploadFailure.integrityViolation:
      return new ConflictError(failure.message, { upload_id: uploadId });
    case UploadFailure.failed:
      return new OperationFailedError(failure.message, { upload_id: uploadId });
    case UploadFailure.assetGone:
      return new NotFoundError(failure.message);
    case UploadFailure.accessRevoked:
      return new AccessRevokedError(failure.message, { upload_id: uploadId });
    case UploadFailure.staleRevision:
      return new StaleRevisionError(failure.message);
    case UploadFailure.notOpen:
      return new ConflictError(failure.message);
    case UploadFailure.tooManyUpdates:
      return new ConflictError(failure.message, { upload_id: uploadId });
    case UploadFailure.contentTypeMismatch: {
      const types = failure.details?.[0] as { declared_type: string; detected_type: string };
      return new ContentTypeMismatchError(failure.message, { ...types, upload_id: uploadId });
    }
    case UploadFailure.quotaExceeded:
      return new QuotaExceededError(failure.message, failure.details?.[0] as ErrorFacts);
    default:
      return err;
  }
}

/** Aborts the session and waits (up to `waitMs`) until its bytes are gone; `reason` is what its row will say. */
export async function abortUploadSession(uc: UploadClient, uploadId: string, waitMs: number, reason?: string): Promise<void> {
  const handle = handleOf(uc, uploadId);
  try {
    await handle.signal(abortSignal, ...(reason === undefined ? [] : [reason]));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const row = await getUploadSession(uc.db, uploadId);
      if (row.status === 'aborted') return;
      throw new ConflictError(`upload ${uploadId} is ${row.status}`);
    }
    throw err;
  }
  const ended = (await waitAtMost(handle.result(), waitMs))?.value;
  if (ended && ended.status !== 'aborted') throw new ConflictError(`upload ${uploadId} is ${ended.status}`);
}

/** The session as its row records it, with the live status from the workflow while it runs. */
export async function readUploadSession(uc: UploadClient, uploadId: string): Promise<{ row: UploadSessionRow; state: UploadState | undefined }> {
  const row = await getUploadSession(uc.db, uploadId);
  if (['completed', 'failed', 'aborted', 'expired'].includes(row.status)) return { row, state: undefined };
  try {
    // Bounded: with no worker running, the row's own status is the best answer there is.
    const state = await uc.client.connection.withDeadline(Date.now() + LIVE_STATUS_WAIT_MS, () => handleOf(uc, uploadId).query(statusQuery));
    return { row, state };
  } catch (err) {
    if (err instanceof DomainError) throw err;
    return { row, state: undefined };
  }
}

/** Tells the session's run to abort, without waiting for it: within ABORT_SIGNAL_WAIT_MS, else expiry ends it. */
export async function signalAbort(uc: UploadClient, uploadId: string, reason: string): Promise<void> {
  await uc.client.connection.withDeadline(Date.now() + ABORT_SIGNAL_WAIT_MS, () => handleOf(uc, uploadId).signal(abortSignal, reason)).catch(() => {});
}
