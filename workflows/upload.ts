import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { IngestActivities } from '../activities/ingest';
import type { UploadActivities } from '../activities/uploads';
import {
  UploadFailure,
  abortSignal,
  completeUpdate,
  openedUpdate,
  statusQuery,
  type CompleteRequest,
  type UploadInput,
  type UploadState,
} from './definitions';

const retry: ActivityOptions['retry'] = {
  initialInterval: '500ms',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  nonRetryableErrorTypes: Object.values(UploadFailure),
};

// The short catalog steps run as local activities, in the worker that runs the workflow: each saves
// the server a round of scheduling, which is most of a small upload's cost (BENCHMARKS.md, row 5).
const local = proxyLocalActivities<UploadActivities>({ startToCloseTimeout: '1 minute', retry });
// Steps whose time grows with the object (S3 assembling or copying it) stay ordinary activities.
const catalog = proxyActivities<UploadActivities>({ startToCloseTimeout: '1 hour', retry });
// Reading back every byte of a large object takes a while; the heartbeat tells a stuck read from a slow one.
const bytes = proxyActivities<UploadActivities>({ startToCloseTimeout: '6 hours', heartbeatTimeout: '30 seconds', retry });
const source = proxyActivities<IngestActivities>({ startToCloseTimeout: '1 hour', retry });

/**
 * Finalizes one upload, simple or chunked (or a restore that copies an old version): open the
 * session, wait for complete / abort / expiry, then assemble, verify, commit and prune.
 */
export async function uploadWorkflow(input: UploadInput): Promise<UploadState> {
  const state: UploadState = { status: 'pending', error: null, result: null };
  // Copies and fetches have nothing to wait for: they complete as soon as they are open.
  let completeRequest: CompleteRequest | undefined = input.kind === 'copy' || input.kind === 'fetch' ? {} : undefined;
  let abortRequested = false;
  let failureType: string = UploadFailure.notOpen;
  const settled = () => state.result !== null || ['failed', 'aborted', 'expired'].includes(state.status);

  setHandler(statusQuery, () => state);
  setHandler(abortSignal, () => {
    abortRequested = true;
  });
  setHandler(openedUpdate, async () => {
    await condition(() => state.status !== 'pending');
    return state;
  });
  setHandler(completeUpdate, async (request) => {
    if (state.status === 'open' && completeRequest === undefined && input.kind === 'chunked') {
      const { missing } = await local.checkParts(input.uploadId);
      if (missing.length > 0) {
        throw ApplicationFailure.create({
          type: UploadFailure.missingParts,
          message: `parts missing or of the wrong size: ${missing.join(', ')}`,
          details: [missing],
          nonRetryable: true,
        });
      }
    }
    if (state.status === 'open' && completeRequest === undefined) completeRequest = request;
    if (completeRequest === undefined) {
      throw ApplicationFailure.create({ type: UploadFailure.notOpen, message: `upload is ${state.status}`, nonRetryable: true });
    }
    await condition(settled);
    if (state.result) return state.result;
    throw ApplicationFailure.create({
      type: state.status === 'failed' ? failureType : UploadFailure.notOpen,
      message: state.error ?? `upload is ${state.status}`,
      nonRetryable: true,
    });
  });

  await local.openUpload(input);
  state.status = 'open';

  const decided = await condition(() => completeRequest !== undefined || abortRequested, Date.parse(input.expiresAt) - Date.now());
  if (!decided || completeRequest === undefined) {
    const ending = decided ? 'aborted' : 'expired';
    await local.discardUpload({ uploadId: input.uploadId, status: ending, error: null });
    // Only now: whoever waits on the outcome must find the bytes already gone.
    state.status = ending;
    await condition(allHandlersFinished);
    return state;
  }

  state.status = 'completing';
  await local.markCompleting({ uploadId: input.uploadId, details: completeRequest.details });
  try {
    if (input.kind === 'chunked') await catalog.assembleParts(input.uploadId);
    if (input.kind === 'copy') await catalog.copyObject({ from: input.copyFromKey!, to: input.objectKey, sizeBytes: input.sizeBytes! });
    if (input.kind === 'fetch') completeRequest = await source.fetchSource({ url: input.sourceUrl!, objectKey: input.objectKey });
    const verified = await verifyStoredObject(input, completeRequest);
    const committed = await local.commitUpload({ uploadId: input.uploadId, ...verified });
    if (committed.versionsBeyondMax > 0) await catalog.pruneVersions(input.assetId);
    state.result = { assetId: committed.assetId, versionId: committed.versionId };
    state.status = 'completed';
  } catch (err) {
    const failure = err instanceof Error && 'cause' in err ? (err.cause as ApplicationFailure | undefined) : undefined;
    if (!(failure instanceof ApplicationFailure) || !Object.values<string>(UploadFailure).includes(failure.type ?? '')) throw err;
    await local.discardUpload({ uploadId: input.uploadId, status: 'failed', error: failure.message });
    failureType = failure.type!;
    state.error = failure.message;
    state.status = 'failed';
  }
  await condition(allHandlersFinished);
  return state;
}

/**
 * What is committed is what S3 holds. A staged object (simple upload, fetch) is confirmed by the
 * checksum the store checked part by part as it arrived; any other object, or one whose store reports
 * no checksum, is read back and hashed.
 */
async function verifyStoredObject(input: UploadInput, request: CompleteRequest): Promise<{ sizeBytes: number; checksumSha256: string }> {
  const { sizeBytes, checksumSha256, s3ChecksumSha256 } = request;
  if (sizeBytes !== undefined && checksumSha256 && s3ChecksumSha256) {
    const confirmed = await local.confirmStagedObject({
      objectKey: input.objectKey,
      sizeBytes,
      checksumSha256,
      s3ChecksumSha256,
      declaredChecksumSha256: input.checksumSha256,
    });
    if (confirmed) return confirmed;
  }
  return bytes.verifyObject({
    uploadId: input.uploadId,
    objectKey: input.objectKey,
    expectedSizeBytes: sizeBytes ?? input.sizeBytes,
    expectedChecksumSha256: input.checksumSha256 ?? checksumSha256,
  });
}
