import {
  ActivityFailure,
  ApplicationFailure,
  TemporalFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IngestActivities } from '../../activities/uploads/ingest';
import type { UploadActivities } from '../../activities/uploads/uploads';
import {
  DEFAULT_MAX_UPDATES,
  UploadFailure,
  abortSignal,
  completeUpdate,
  declaredBytes,
  openedUpdate,
  stallBoundOf,
  statusQuery,
  type CompleteRequest,
  type UploadInput,
  type UploadState,
  type UploadWorkflow,
} from './definitions';

// Every step's retries are bounded, in attempts and in time (docs/operations.md, "Retry bounds"): a step that
// still fails past them fails the run (failRun), which removes the session's bytes and releases its
// reservation. 30 attempts are about 13 minutes of backoff, enough to ride out a restart of the database or the store.
const retry: ActivityOptions['retry'] = {
  initialInterval: '500ms',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 30,
  nonRetryableErrorTypes: Object.values(UploadFailure),
};

// The short catalog steps run as local activities, in the worker that runs the workflow: each saves
// the server a round of scheduling, which is most of a small upload's cost (BENCHMARKS.md, row 5).
// While one runs, the run's workflow task holds a slot of the worker, so it is bounded: a step still
// failing after its schedule-to-close time runs on as an ordinary activity (see `step`).
// Every retry waits on a server timer (the threshold is below the first backoff), never inside the
// worker: the Temporal core (1.24) leaves the start-to-close timer of each attempt retried inside the
// worker running, and one that fires after its worker stopped panics ("receive half not dropped",
// test/workerShutdown.test.ts). A timer also gives the worker's slot back while the step backs off.
const local = proxyLocalActivities<UploadActivities>({
  startToCloseTimeout: '20 seconds',
  scheduleToCloseTimeout: '30 seconds',
  localRetryThreshold: '100 milliseconds',
  retry,
});
// A catalog step that ran out of local time runs on as an ordinary activity, its attempts about as
// short as a local one's: such steps do not heartbeat, so a worker that dies in one is noticed only
// when the attempt's time passes (it was an hour: test/stuckSteps.test.ts).
const catalog = proxyActivities<UploadActivities>({ startToCloseTimeout: '1 minute', scheduleToCloseTimeout: '3 hours', retry });
// Steps whose time grows with the object (S3 assembling or copying it) stay ordinary activities;
// they heartbeat while they run (activities/uploads/uploads.ts), so a worker that dies in one is noticed within a minute, not the hour.
const growing = proxyActivities<UploadActivities>({ startToCloseTimeout: '1 hour', scheduleToCloseTimeout: '3 hours', heartbeatTimeout: '1 minute', retry });
// Reading back every byte of a large object takes a while; the heartbeat tells a stuck read from a slow one.
const bytes = proxyActivities<UploadActivities>({ startToCloseTimeout: '6 hours', scheduleToCloseTimeout: '12 hours', heartbeatTimeout: '30 seconds', retry });
// A source another service named may be down for a while, but the upload does not wait past its expiry;
// the fetch heartbeats while it streams, so a worker that dies in it is noticed within a minute, not the hour.
const sourceUntil = (expiresAt: string) =>
  proxyActivities<IngestActivities>({
    startToCloseTimeout: '1 hour',
    scheduleToCloseTimeout: Math.max(60_000, Date.parse(expiresAt) - Date.now()),
    heartbeatTimeout: '1 minute',
    retry,
  });

/** What a run knows of its upload, which its handlers and its main path share. */
interface UploadRun {
  input: UploadInput;
  state: UploadState;
  /** Set by `complete` (at once for copies and fetches, which have nothing to wait for). */
  completeRequest: CompleteRequest | undefined;
  abortRequested: boolean;
  /** Why the session was told to end, when the API said (access revoked): what its row and status say. */
  abortReason: string | null;
  failureType: string;
  /** What a known failure tells its caller beside its message (a quota refusal's usage and limit). */
  failureDetails: unknown[] | undefined;
  /** Updates accepted so far (UpdateBound). */
  updatesTaken: number;
}

/**
 * Finalizes one upload, simple or chunked (or a restore that copies an old version): open the
 * session, wait for complete / abort / expiry, then assemble, verify, commit and prune.
 */
export async function uploadWorkflow(input: UploadInput): Promise<UploadState> {
  const run: UploadRun = {
    input,
    state: { status: 'pending', error: null, result: null },
    // Copies and fetches have nothing to wait for: they complete as soon as they are open.
    completeRequest: input.kind === 'copy' || input.kind === 'fetch' ? {} : undefined,
    abortRequested: false,
    abortReason: null,
    failureType: UploadFailure.notOpen,
    failureDetails: undefined,
    updatesTaken: 0,
  };
  setRunHandlers(run);
  try {
    await openAndFinish(run);
  } catch (err) {
    // Every step retries what may pass later, so a step that fails has failed for good.
    const failure = failureOf(err);
    if (!failure) throw err;
    await failRun(run, failure);
  }
  await condition(allHandlersFinished);
  return run.state;
}

const settled = ({ state }: UploadRun) => state.result !== null || ['failed', 'aborted', 'expired'].includes(state.status);

function endedFailure({ state, failureType, failureDetails }: UploadRun): ApplicationFailure {
  return ApplicationFailure.create({
    type: state.status === 'failed' ? failureType : UploadFailure.notOpen,
    message: state.error ?? `upload is ${state.status}`,
    details: state.status === 'failed' ? failureDetails : undefined,
    nonRetryable: true,
  });
}

function setRunHandlers(run: UploadRun): void {
  setHandler(statusQuery, () => run.state);
  setHandler(abortSignal, (reason) => {
    run.abortRequested = true;
    run.abortReason ??= reason ?? null;
  });
  setHandler(
    openedUpdate,
    async () => {
      run.updatesTaken++;
      await condition(() => run.state.status !== 'pending');
      if (run.state.status === 'failed') throw endedFailure(run);
      return run.state;
    },
    { validator: () => refuseBeyondBound(run, false) },
  );
  setHandler(
    completeUpdate,
    (request) => {
      run.updatesTaken++;
      return takeComplete(run, request);
    },
    { validator: (_request: CompleteRequest) => refuseBeyondBound(run, run.completeRequest === undefined && takesComplete(run)) },
  );
}

/**
 * Refuses an update past the run's bound (UpdateBound), before it is written to the history; a
 * `complete` the run would take has room up to twice the bound, so the run can always finish.
 * (Validators do not run on replay: runs that took more replay as they ran.)
 */
function refuseBeyondBound(run: UploadRun, wouldTake: boolean): void {
  const bound = run.input.maxUpdates ?? DEFAULT_MAX_UPDATES;
  if (run.updatesTaken < bound || (wouldTake && run.updatesTaken < 2 * bound)) return;
  throw ApplicationFailure.create({
    type: UploadFailure.tooManyUpdates,
    message: `upload ${run.input.uploadId} took its ${bound} requests; read its status`,
    nonRetryable: true,
  });
}

/** Whether a `complete` would be taken now (for a chunked upload, if its parts are all there). */
function takesComplete({ state, input }: UploadRun): boolean {
  return state.status === 'open' || (state.status === 'pending' && input.kind === 'simple');
}

async function takeComplete(run: UploadRun, request: CompleteRequest): Promise<NonNullable<UploadState['result']>> {
  const { input, state } = run;
  if (state.status === 'open' && run.completeRequest === undefined && input.kind === 'chunked') {
    const { missing } = await step((a) => a.checkParts(input.uploadId));
    if (missing.length > 0) {
      throw ApplicationFailure.create({
        type: UploadFailure.missingParts,
        message: `parts missing or of the wrong size: ${missing.join(', ')}`,
        details: [missing],
        nonRetryable: true,
      });
    }
  }
  // A simple upload's run is started without waiting for its open (lib/uploads/uploadRuns.ts), so its
  // `complete` may come with the start, before the session is open: it is taken all the same.
  if (takesComplete(run) && run.completeRequest === undefined) run.completeRequest = request;
  if (run.completeRequest === undefined) throw endedFailure(run);
  await condition(() => settled(run));
  if (state.result) return state.result;
  throw endedFailure(run);
}

async function openAndFinish(run: UploadRun): Promise<void> {
  const { input, state } = run;
  await step((a) => a.openUpload(input));
  state.status = 'open';

  // A simple upload's `complete` that came with the start needs no expiry timer, started only to be
  // cancelled. (Every other case starts it as runs always did, so their histories replay.)
  const completedWithStart = input.kind === 'simple' && run.completeRequest !== undefined;
  const waited = completedWithStart ? 'told' : await waitForClient(run);
  if (waited === 'committed') {
    // Its version exists: versions beyond the maximum, if any, go with the next upload's prune.
    state.status = 'completed';
    return;
  }
  const decided = waited === 'told';
  // An API that gave up waiting for a worker (lib/uploads/uploadRuns.ts) sends abort after its `complete`;
  // a run that gets both before it begins to finish ends. (Asked only by one-step requests, so runs
  // that took a `complete` without it replay as they ran.)
  const abortWins = run.abortRequested && run.completeRequest?.oneStep === true;
  if (!decided || run.completeRequest === undefined || abortWins) {
    const ending = decided ? 'aborted' : 'expired';
    const error = decided ? run.abortReason : waited === 'stalled' ? `stalled: no progress for ${stallBoundOf(input)} s` : null;
    if (await discardOrFindCommitted(run, ending, error)) return;
    // Only now: whoever waits on the outcome must find the bytes already gone.
    state.error = error;
    state.status = ending;
  } else {
    state.status = 'completing';
    await finish(run, run.completeRequest);
  }
}

/**
 * Waits for the client's `complete` or abort (`told`), at most until the session expires. A run with a
 * stall bound wakes every `stallSeconds` and reads its session: one whose client showed no progress
 * for its bound (stallBoundOf: longer for chunked and tus sessions) has `stalled` (an API killed mid-body, a client gone silent), and one already
 * committed (by a finish whose worker died before its run recorded it) is `committed`, its result
 * taken from the row. A session ended under the run (a grant change, its asset deleted) is as if told
 * to abort. Runs begun without the bound, or before it existed, wait for the expiry alone, as they did.
 */
async function waitForClient(run: UploadRun): Promise<'told' | 'expired' | 'stalled' | 'committed'> {
  const { input } = run;
  const told = () => run.completeRequest !== undefined || run.abortRequested;
  const expiresAt = Date.parse(input.expiresAt);
  const stallSeconds = stallBoundOf(input);
  if (!input.stallSeconds || !stallSeconds || !patched('upload-stall-check')) return (await condition(told, expiresAt - Date.now())) ? 'told' : 'expired';
  // A resumable session's bound is longer than the simple one, but its run looks as often: a session
  // committed or ended under it is noticed as soon.
  const lookEveryMs = Math.min(input.stallSeconds, stallSeconds) * 1000;
  for (;;) {
    const left = expiresAt - Date.now();
    if (left <= 0) return told() ? 'told' : 'expired';
    if (await condition(told, Math.min(lookEveryMs, left))) return 'told';
    const progress = await step((a) => a.sessionProgress({ uploadId: input.uploadId, stallSeconds }));
    // A `complete` or abort that came while the session was read wins: the client is there.
    if (told()) return 'told';
    if (progress.status === 'completed') {
      run.state.result = progress.result;
      return 'committed';
    }
    if (progress.status !== 'open' && progress.status !== 'completing') {
      run.abortRequested = true;
      run.abortReason ??= progress.error;
      return 'told';
    }
    if (progress.idleSeconds >= stallSeconds) return 'stalled';
  }
}

/** Assembles, copies or fetches the object as its kind needs, verifies and commits it, and prunes. */
async function finish(run: UploadRun, request: CompleteRequest): Promise<void> {
  const { input, state } = run;
  let completeRequest = request;
  const finished = await finishInOneStep(input, completeRequest);
  let committed = finished;
  if (!committed) {
    if (finished === undefined) await step((a) => a.markCompleting({ uploadId: input.uploadId, details: completeRequest.details }));
    if (input.kind === 'chunked' || input.kind === 'tus') await growing.assembleParts(input.uploadId);
    if (input.kind === 'copy') await growing.copyObject({ from: input.copyFromKey, to: input.objectKey, sizeBytes: input.sizeBytes, ...copySourceOf(input) });
    if (input.kind === 'fetch') {
      completeRequest = await sourceUntil(input.expiresAt).fetchSource({ uploadId: input.uploadId, url: input.sourceUrl, objectKey: input.objectKey });
      run.completeRequest = completeRequest;
    }
    const verified = await verifyStoredObject(input, completeRequest);
    committed = await step((a) => a.commitUpload({ uploadId: input.uploadId, ...verified, ...ifMatchOf(input) }));
  }
  if (committed.versionsBeyondMax > 0) await pruneAfterCommit(input);
  state.result = { assetId: committed.assetId, versionId: committed.versionId };
  state.status = 'completed';
}

/**
 * The versions beyond STORAGE_MAX_VERSIONS go once the new one is committed. The commit is what the
 * client is answered: a prune that runs out of attempts is logged, and the next upload's prune (or a
 * lifecycle run) takes those versions, instead of failing an upload whose version exists.
 */
async function pruneAfterCommit(input: UploadInput): Promise<void> {
  if (!patched('prune-after-commit-best-effort')) return void (await growing.pruneVersions(input.assetId, input.actor));
  try {
    await growing.pruneVersions(input.assetId, input.actor);
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('versions beyond the maximum not pruned; a later prune takes them', { assetId: input.assetId, error: String(err) });
  }
}

/**
 * Ends the session as `ending`, its bytes removed; true when it was found committed instead (its
 * finish ran in a workflow task the server refused, and the run replayed down this path): the run
 * then ends completed with that version, and a `complete` waiting on it is answered with it.
 */
async function discardOrFindCommitted(run: UploadRun, ending: 'aborted' | 'expired' | 'failed', error: string | null): Promise<boolean> {
  const found = await step((a) => a.discardUpload({ uploadId: run.input.uploadId, status: ending, error, objectKey: run.input.objectKey }));
  if (!found?.committed) return false;
  run.state.result = found.committed;
  run.state.status = 'completed';
  return true;
}

/** A step failed for good: the session's bytes go, and the run ends failed with what the failure says. */
async function failRun(run: UploadRun, failure: TemporalFailure): Promise<void> {
  const { state } = run;
  if (await discardOrFindCommitted(run, 'failed', failure.message)) return;
  const known = failure instanceof ApplicationFailure && Object.values<string>(UploadFailure).includes(failure.type ?? '');
  run.failureType = known ? (failure as ApplicationFailure).type! : UploadFailure.failed;
  run.failureDetails = known ? ((failure as ApplicationFailure).details ?? undefined) : undefined;
  state.error = failure.message;
  state.status = 'failed';
}

/**
 * A catalog step, run locally. One whose local time ran out (it kept failing in a way a retry may
 * fix) runs on as an ordinary activity: its retries then wait on the server, not in a workflow task.
 */
async function step<T>(run: (activities: typeof local) => Promise<T>): Promise<T> {
  try {
    return await run(local);
  } catch (err) {
    if (!(failureOf(err) instanceof TimeoutFailure)) throw err;
    return run(catalog);
  }
}

/** Why a step failed: its own failure (a local activity's comes unwrapped), or its timeout. */
function failureOf(err: unknown): TemporalFailure | undefined {
  if (!(err instanceof TemporalFailure) || isCancellation(err)) return undefined;
  return err instanceof ActivityFailure && err.cause instanceof TemporalFailure ? err.cause : err;
}

uploadWorkflow satisfies UploadWorkflow;

/**
 * A simple upload whose store checked its checksum finishes in one local activity (mark completing,
 * confirm, commit) when its `complete` asks for it: undefined when that does not apply, null when the
 * store did not confirm the object (the session is marked completing; the caller reads the object
 * back and commits). Runs whose `complete` did not ask recorded three steps, and replay them.
 */
async function finishInOneStep(input: UploadInput, request: CompleteRequest): Promise<Awaited<ReturnType<UploadActivities['finishStagedUpload']>> | undefined> {
  const { sizeBytes, checksumSha256, s3ChecksumSha256, details } = request;
  if (input.kind !== 'simple' || !request.oneStep || sizeBytes === undefined || !checksumSha256 || !s3ChecksumSha256) return undefined;
  return step((a) =>
    a.finishStagedUpload({ uploadId: input.uploadId, details, objectKey: input.objectKey, sizeBytes, checksumSha256, s3ChecksumSha256, ...ifMatchOf(input) }),
  );
}

/** A copy's source bucket, when it is not the assets bucket (given only then: earlier runs recorded the copy without it). */
function copySourceOf(input: UploadInput & { kind: 'copy' }): { fromBackup?: true } {
  return input.copyFromBucket === 'backup' ? { fromBackup: true } : {};
}

/** A new version's If-Match, compared again by its commit under the asset's row lock (the session's open compared it first). */
function ifMatchOf(input: UploadInput): { ifMatch?: string } {
  return !input.newAsset && input.ifMatch !== undefined ? { ifMatch: input.ifMatch } : {};
}

/**
 * What is committed is what S3 holds. A staged object (simple upload, fetch) is confirmed by the
 * checksum the store checked part by part as it arrived, a tus upload, or a chunked one whose parts
 * came in order, by the hash the API streamed and the store's part ETags; any other object, or one
 * the store does not confirm, is read back and hashed.
 */
async function verifyStoredObject(input: UploadInput, request: CompleteRequest): Promise<{ sizeBytes: number; checksumSha256: string }> {
  const { sizeBytes, checksumSha256, s3ChecksumSha256 } = request;
  const declared = declaredBytes(input);
  if (input.kind === 'tus') {
    const streamed = await step((a) => a.confirmStreamedUpload(input.uploadId));
    if (streamed) return streamed;
  }
  if (input.kind === 'chunked' && request.multipartEtag && sizeBytes !== undefined && checksumSha256) {
    const streamed = await step((a) =>
      a.confirmStreamedParts({
        uploadId: input.uploadId,
        objectKey: input.objectKey,
        sizeBytes,
        checksumSha256,
        multipartEtag: request.multipartEtag!,
        declaredChecksumSha256: declared.checksumSha256,
      }),
    );
    if (streamed) return streamed;
    // Not the bytes hashed (a part was sent again): only what was declared is known.
    return bytes.verifyObject({
      uploadId: input.uploadId,
      objectKey: input.objectKey,
      expectedSizeBytes: declared.sizeBytes,
      expectedChecksumSha256: declared.checksumSha256,
    });
  }
  if (sizeBytes !== undefined && checksumSha256 && s3ChecksumSha256) {
    const confirmed = await step((a) =>
      a.confirmStagedObject({
        uploadId: input.uploadId,
        objectKey: input.objectKey,
        sizeBytes,
        checksumSha256,
        s3ChecksumSha256,
        declaredChecksumSha256: declared.checksumSha256,
      }),
    );
    if (confirmed) return confirmed;
  }
  return bytes.verifyObject({
    uploadId: input.uploadId,
    objectKey: input.objectKey,
    expectedSizeBytes: sizeBytes ?? declared.sizeBytes,
    expectedChecksumSha256: declared.checksumSha256 ?? checksumSha256,
  });
}
