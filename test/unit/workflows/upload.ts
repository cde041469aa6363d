import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { uploadWorkflow } from '../../../workflows';
import { UploadFailure, abortSignal, completeUpdate, openedUpdate, statusQuery, type UploadInput } from '../../../workflows/uploads/definitions';
import type { Stubs, WorkflowTestEnv } from '../support/workflowEnv';

const ASSET = '0190a000-0000-7000-8000-0000000000a1';
const VERSION = '0190a000-0000-7000-8000-0000000000b1';
const SHA = 'a'.repeat(64);
const HOUR = 3_600_000;

let uploads = 0;
/** expiresAt by the test server's clock, which skipped ahead in earlier tests. */
async function inputOf(wf: WorkflowTestEnv, content: Partial<UploadInput> & Pick<UploadInput, 'kind'>, expiresInMs = HOUR): Promise<UploadInput> {
  const uploadId = `0190a000-0000-7000-8000-${String(++uploads).padStart(12, '0')}`;
  return {
    uploadId,
    assetId: ASSET,
    newAsset: true,
    versionId: VERSION,
    objectKey: `assets/${ASSET}/${VERSION}`,
    expiresAt: new Date((await wf.env.currentTimeMs()) + expiresInMs).toISOString(),
    name: 'a.bin',
    contentType: 'application/octet-stream',
    ...content,
  } as UploadInput;
}

/** Every activity the upload workflow proxies, answering as a healthy catalog and store would. */
export function uploadStubs(): Stubs {
  return {
    openUpload: jest.fn(async () => {}),
    checkParts: jest.fn(async () => ({ missing: [] })),
    markCompleting: jest.fn(async () => {}),
    assembleParts: jest.fn(async () => {}),
    copyObject: jest.fn(async () => {}),
    confirmStagedObject: jest.fn(async ({ sizeBytes, checksumSha256 }) => ({ sizeBytes, checksumSha256 })),
    confirmStreamedUpload: jest.fn(async () => ({ sizeBytes: 10, checksumSha256: SHA })),
    confirmStreamedParts: jest.fn(async ({ sizeBytes, checksumSha256 }) => ({ sizeBytes, checksumSha256 })),
    verifyObject: jest.fn(async () => ({ sizeBytes: 10, checksumSha256: SHA })),
    commitUpload: jest.fn(async () => ({ assetId: ASSET, versionId: VERSION, versionsBeyondMax: 0 })),
    finishStagedUpload: jest.fn(async () => ({ assetId: ASSET, versionId: VERSION, versionsBeyondMax: 0 })),
    pruneVersions: jest.fn(async () => ({ pruned: 1 })),
    discardUpload: jest.fn(async () => {}),
    fetchSource: jest.fn(async () => ({ sizeBytes: 10, checksumSha256: SHA, s3ChecksumSha256: 'c3ZzcwUw' })),
  };
}

/** Starts a run of `input`, hands its handle to `body`, answers what body answers. */
async function run<T>(wf: WorkflowTestEnv, input: UploadInput, body: (handle: Awaited<ReturnType<typeof start>>) => Promise<T>): Promise<T> {
  return body(await start(wf, input));
}

const start = (wf: WorkflowTestEnv, input: UploadInput) =>
  wf.env.client.workflow.start(uploadWorkflow, { taskQueue: wf.taskQueue, workflowId: `upload-${input.uploadId}`, args: [input] });

const COMPLETED = { status: 'completed', error: null, result: { assetId: ASSET, versionId: VERSION } };

export const describeUploadWorkflow = (wf: WorkflowTestEnv) =>
  describe('uploadWorkflow', () => {
    it('a simple upload: opened, then complete reads the object back, commits and answers the version', async () => {
      const a = wf.stub({ ...uploadStubs(), commitUpload: jest.fn(async () => ({ assetId: ASSET, versionId: VERSION, versionsBeyondMax: 2 })) });
      const input = await inputOf(wf, { kind: 'simple' });
      const { opened, completed, final } = await run(wf, input, async (handle) => {
        const opened = await handle.executeUpdate(openedUpdate);
        const completed = await handle.executeUpdate(completeUpdate, {
          args: [{ sizeBytes: 10, checksumSha256: SHA, details: { name: 'b.bin', contentType: 'text/plain' } }],
        });
        return { opened, completed, final: await handle.result() };
      });
      expect(opened.status).toBe('open');
      expect(completed).toEqual({ assetId: ASSET, versionId: VERSION });
      expect(final).toEqual(COMPLETED);
      expect(a.openUpload).toHaveBeenCalledWith(input);
      expect(a.markCompleting).toHaveBeenCalledWith({ uploadId: input.uploadId, details: { name: 'b.bin', contentType: 'text/plain' } });
      expect(a.verifyObject).toHaveBeenCalledWith({ uploadId: input.uploadId, objectKey: input.objectKey, expectedSizeBytes: 10, expectedChecksumSha256: SHA });
      expect(a.commitUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, sizeBytes: 10, checksumSha256: SHA });
      expect(a.pruneVersions).toHaveBeenCalledWith(ASSET, undefined);
      expect(a.discardUpload).not.toHaveBeenCalled();
    });

    it('a simple upload whose complete asks for one step and carries the store checksum finishes in finishStagedUpload alone', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'simple' });
      const request = { sizeBytes: 10, checksumSha256: SHA, s3ChecksumSha256: 'c3Mz', oneStep: true };
      const final = await run(wf, input, async (handle) => {
        await handle.executeUpdate(completeUpdate, { args: [request] });
        return handle.result();
      });
      expect(final).toEqual(COMPLETED);
      expect(a.finishStagedUpload).toHaveBeenCalledWith({
        uploadId: input.uploadId,
        details: undefined,
        objectKey: input.objectKey,
        sizeBytes: 10,
        checksumSha256: SHA,
        s3ChecksumSha256: 'c3Mz',
      });
      for (const step of ['markCompleting', 'verifyObject', 'commitUpload', 'pruneVersions']) expect(a[step]).not.toHaveBeenCalled();
    });

    it('a store that does not confirm the staged object: the object is read back and committed', async () => {
      const a = wf.stub({ ...uploadStubs(), confirmStagedObject: jest.fn(async () => null) });
      const input = await inputOf(wf, { kind: 'simple' });
      const final = await run(wf, input, async (handle) => {
        await handle.executeUpdate(completeUpdate, { args: [{ sizeBytes: 10, checksumSha256: SHA, s3ChecksumSha256: 'c3Mz' }] });
        return handle.result();
      });
      expect(final).toEqual(COMPLETED);
      expect(a.confirmStagedObject).toHaveBeenCalledTimes(1);
      expect(a.verifyObject).toHaveBeenCalledTimes(1);
      expect(a.commitUpload).toHaveBeenCalledTimes(1);
    });

    it('a chunked upload with parts missing: complete is refused with MissingParts and the session stays open', async () => {
      const a = wf.stub({ ...uploadStubs(), checkParts: jest.fn(async () => ({ missing: [2, 3] })) });
      const input = await inputOf(wf, { kind: 'chunked', sizeBytes: 30, partSizeBytes: 10, partCount: 3 });
      const { refused, status } = await run(wf, input, async (handle) => {
        await handle.executeUpdate(openedUpdate);
        const refused = await handle.executeUpdate(completeUpdate, { args: [{}] }).catch((err: unknown) => err);
        const status = await handle.query(statusQuery);
        await handle.signal(abortSignal);
        await handle.result();
        return { refused, status };
      });
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: UploadFailure.missingParts, details: [[2, 3]] });
      expect(status.status).toBe('open');
      expect(a.assembleParts).not.toHaveBeenCalled();
    });

    it('a chunked upload whose parts the API hashed in order: assembled, confirmed by its ETag, committed', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'chunked', sizeBytes: 30, partSizeBytes: 10, partCount: 3, checksumSha256: SHA });
      const final = await run(wf, input, async (handle) => {
        await handle.executeUpdate(openedUpdate);
        await handle.executeUpdate(completeUpdate, { args: [{ sizeBytes: 30, checksumSha256: SHA, multipartEtag: '"abc-3"' }] });
        return handle.result();
      });
      expect(final).toEqual(COMPLETED);
      expect(a.checkParts).toHaveBeenCalledWith(input.uploadId);
      expect(a.assembleParts).toHaveBeenCalledWith(input.uploadId);
      expect(a.confirmStreamedParts).toHaveBeenCalledWith({
        uploadId: input.uploadId,
        objectKey: input.objectKey,
        sizeBytes: 30,
        checksumSha256: SHA,
        multipartEtag: '"abc-3"',
        declaredChecksumSha256: SHA,
      });
      expect(a.verifyObject).not.toHaveBeenCalled();
    });

    it('a tus upload: assembled and confirmed by the hash the API streamed', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'tus', sizeBytes: 10 });
      const final = await run(wf, input, async (handle) => {
        await handle.executeUpdate(openedUpdate);
        await handle.executeUpdate(completeUpdate, { args: [{}] });
        return handle.result();
      });
      expect(final).toEqual(COMPLETED);
      expect(a.assembleParts).toHaveBeenCalledWith(input.uploadId);
      expect(a.confirmStreamedUpload).toHaveBeenCalledWith(input.uploadId);
      expect(a.commitUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, sizeBytes: 10, checksumSha256: SHA });
    });

    it('a copy (restore of a version) completes without a complete: copied, read back, committed', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'copy', copyFromKey: 'assets/old', sizeBytes: 10, checksumSha256: SHA });
      const final = await run(wf, input, (handle) => handle.result());
      expect(final).toEqual(COMPLETED);
      expect(a.copyObject).toHaveBeenCalledWith({ from: 'assets/old', to: input.objectKey, sizeBytes: 10 });
      expect(a.verifyObject).toHaveBeenCalledWith({ uploadId: input.uploadId, objectKey: input.objectKey, expectedSizeBytes: 10, expectedChecksumSha256: SHA });
    });

    it('a fetch completes without a complete: the source is fetched and the staged object confirmed', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'fetch', sourceUrl: 'https://example.test/a.bin' });
      const final = await run(wf, input, (handle) => handle.result());
      expect(final).toEqual(COMPLETED);
      expect(a.fetchSource).toHaveBeenCalledWith({ uploadId: input.uploadId, url: 'https://example.test/a.bin', objectKey: input.objectKey });
      expect(a.confirmStagedObject).toHaveBeenCalledWith(expect.objectContaining({ sizeBytes: 10, checksumSha256: SHA, s3ChecksumSha256: 'c3ZzcwUw' }));
    });

    it('abort: the session is discarded with the reason it came with', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'chunked', sizeBytes: 30, partSizeBytes: 10, partCount: 3 });
      const final = await run(wf, input, async (handle) => {
        await handle.executeUpdate(openedUpdate);
        await handle.signal(abortSignal, 'access revoked');
        return handle.result();
      });
      expect(final).toEqual({ status: 'aborted', error: 'access revoked', result: null });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, status: 'aborted', error: 'access revoked', objectKey: input.objectKey });
      expect(a.commitUpload).not.toHaveBeenCalled();
    });

    it('an abort that comes with a one-step complete while the run opens: aborted with nothing committed, or completed with its version, never aborted over a commit', async () => {
      // The open is held until both have reached the server. The signal then comes during the workflow
      // task that runs the open (a local step): the server refuses that task's completion, and the run
      // replays with the abort, after a finish the refused task may already have carried out.
      let releaseOpen!: () => void;
      const opened = new Promise<void>((resolve) => (releaseOpen = resolve));
      let committed = false;
      const a = wf.stub({
        ...uploadStubs(),
        openUpload: jest.fn(() => opened),
        finishStagedUpload: jest.fn(async () => {
          committed = true;
          return { assetId: ASSET, versionId: VERSION, versionsBeyondMax: 0 };
        }),
        // As the catalog answers: a session committed already is not discarded, and says so.
        discardUpload: jest.fn(async () => (committed ? { committed: { assetId: ASSET, versionId: VERSION } } : null)),
      });
      const input = await inputOf(wf, { kind: 'simple' });
      const { final, answer } = await run(wf, input, async (handle) => {
        const completing = await handle.startUpdate(completeUpdate, {
          args: [{ sizeBytes: 10, checksumSha256: SHA, s3ChecksumSha256: 'c3Mz', oneStep: true }],
          waitForStage: 'ACCEPTED',
        });
        await handle.signal(abortSignal);
        releaseOpen();
        const answer = await completing.result().then(
          (result) => ({ result, failure: undefined }),
          (failure: unknown) => ({ result: undefined, failure }),
        );
        return { final: await handle.result(), answer };
      });
      if (committed) {
        expect(final).toEqual(COMPLETED);
        expect(answer.result).toEqual({ assetId: ASSET, versionId: VERSION });
      } else {
        expect(final).toEqual({ status: 'aborted', error: null, result: null });
        expect(answer.failure).toBeInstanceOf(WorkflowUpdateFailedError);
        expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, status: 'aborted', error: null, objectKey: input.objectKey });
      }
    });

    it('expiry: nothing came before expiresAt, so the session is discarded as expired', async () => {
      const a = wf.stub(uploadStubs());
      const input = await inputOf(wf, { kind: 'chunked', sizeBytes: 30, partSizeBytes: 10, partCount: 3 }, 24 * HOUR);
      const final = await run(wf, input, (handle) => handle.result());
      expect(final).toEqual({ status: 'expired', error: null, result: null });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, status: 'expired', error: null, objectKey: input.objectKey });
    });

    it('a prune that fails for good after the commit: the upload still answers its committed version', async () => {
      const gone = ApplicationFailure.create({ type: 'BackupBucketUnavailable', message: 'the hand-off failed', nonRetryable: true });
      const a = wf.stub({
        ...uploadStubs(),
        commitUpload: jest.fn(async () => ({ assetId: ASSET, versionId: VERSION, versionsBeyondMax: 1 })),
        pruneVersions: jest.fn(async () => Promise.reject(gone)),
      });
      const input = await inputOf(wf, { kind: 'simple' });
      const { completed, final } = await run(wf, input, async (handle) => {
        const completed = await handle.executeUpdate(completeUpdate, { args: [{ sizeBytes: 10, checksumSha256: SHA }] });
        return { completed, final: await handle.result() };
      });
      expect(a.pruneVersions).toHaveBeenCalled();
      expect(completed).toEqual({ assetId: ASSET, versionId: VERSION });
      expect(final).toEqual(COMPLETED);
      expect(a.discardUpload).not.toHaveBeenCalled();
    });

    it('a step that fails for good: the session is discarded as failed and complete fails with the step failure type', async () => {
      const mismatch = ApplicationFailure.create({ type: UploadFailure.checksumMismatch, message: 'checksum mismatch', nonRetryable: true });
      const a = wf.stub({ ...uploadStubs(), verifyObject: jest.fn(async () => Promise.reject(mismatch)) });
      const input = await inputOf(wf, { kind: 'simple' });
      const { refused, final } = await run(wf, input, async (handle) => {
        const refused = await handle.executeUpdate(completeUpdate, { args: [{ sizeBytes: 10, checksumSha256: SHA }] }).catch((err: unknown) => err);
        return { refused, final: await handle.result() };
      });
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: UploadFailure.checksumMismatch, message: 'checksum mismatch' });
      expect(final).toEqual({ status: 'failed', error: 'checksum mismatch', result: null });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, status: 'failed', error: 'checksum mismatch', objectKey: input.objectKey });
      expect(a.commitUpload).not.toHaveBeenCalled();
    });

    it('an open that fails for good: opened answers the failure, typed UploadFailed when the type is not the workflow’s', async () => {
      const a = wf.stub({
        ...uploadStubs(),
        openUpload: jest.fn(async () => Promise.reject(ApplicationFailure.create({ type: 'Other', message: 'no row', nonRetryable: true }))),
      });
      const input = await inputOf(wf, { kind: 'chunked', sizeBytes: 30, partSizeBytes: 10, partCount: 3 });
      const { refused, final } = await run(wf, input, async (handle) => {
        const refused = await handle.executeUpdate(openedUpdate).catch((err: unknown) => err);
        return { refused, final: await handle.result() };
      });
      expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: UploadFailure.failed, message: 'no row' });
      expect(final).toEqual({ status: 'failed', error: 'no row', result: null });
      expect(a.discardUpload).toHaveBeenCalledWith({ uploadId: input.uploadId, status: 'failed', error: 'no row', objectKey: input.objectKey });
    });
  });
