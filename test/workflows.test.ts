/**
 * Workflow branches that are slow to reach end to end, on Temporal's time-skipping test server with
 * stubbed activities (plain functions; no catalog, no S3): an upload's expiry, an abort that comes
 * while the upload completes, the relay continuing as new, and signals to upload runs that are gone.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import { uuidv7 } from '../lib/platform/ids';
import { TEMPORAL_TEST_SERVER } from '../scripts/stack';
import { deleteAssetWorkflowId } from '../workflows/assets/definitions';
import { outboxRelayWorkflowId } from '../workflows/events/definitions';
import { lifecycleWorkflowId } from '../workflows/lifecycle/definitions';
import { abortSignal, completeUpdate, statusQuery, type UploadInput, type UploadState } from '../workflows/uploads/definitions';
import { waitUntil } from './support/processes';
import './support/quietRuntime';
import { WORKFLOW_BUNDLE } from './support/testStack';

const MiB = 1024 * 1024;
const HOUR = 3600_000;

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEMPORAL_TEST_SERVER } } });
});
afterAll(async () => {
  await env?.teardown();
});

/** Runs `test` while a worker of the bundled workflows, with these activities only, polls a queue of its own. */
async function withWorker<T>(activities: Partial<Activities>, test: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `workflows-test-${uuidv7()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities });
  return worker.runUntil(test(taskQueue));
}

/** A chunked upload of two parts, expiring `expiresInMs` after the test server's now. */
async function chunkedUpload(expiresInMs: number): Promise<UploadInput> {
  const assetId = uuidv7();
  const versionId = uuidv7();
  return {
    uploadId: uuidv7(),
    kind: 'chunked',
    assetId,
    newAsset: true,
    versionId,
    objectKey: `assets/${assetId}/versions/${versionId}`,
    expiresAt: new Date((await env.currentTimeMs()) + expiresInMs).toISOString(),
    name: 'scroll.bin',
    contentType: 'application/octet-stream',
    sizeBytes: 10 * MiB,
    partSizeBytes: 5 * MiB,
    partCount: 2,
  };
}

type Discard = Parameters<Activities['discardUpload']>[0];

describe('uploadWorkflow', () => {
  it('a session nobody completes expires at its expiresAt: its bytes are discarded as expired, then the state says expired', async () => {
    const discarded: Discard[] = [];
    const input = await chunkedUpload(24 * HOUR);
    const activities: Partial<Activities> = {
      openUpload: async () => {},
      discardUpload: async (req) => {
        discarded.push(req);
        return null;
      },
    };

    const { state, waitedMs } = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start('uploadWorkflow', { workflowId: `upload-${input.uploadId}`, taskQueue, args: [input] });
      const started = await env.currentTimeMs();
      const state = (await handle.result()) as UploadState; // the server skips time to the expiry timer
      return { state, waitedMs: (await env.currentTimeMs()) - started };
    });

    expect(waitedMs).toBeGreaterThanOrEqual(23 * HOUR);
    expect(discarded).toEqual([{ uploadId: input.uploadId, status: 'expired', error: null, objectKey: input.objectKey }]);
    expect(state).toEqual({ status: 'expired', error: null, result: null });
  });

  it('an abort signalled while the upload completes changes nothing: the completion goes on and commits, and nothing is discarded', async () => {
    const discarded: Discard[] = [];
    const committed: string[] = [];
    let assembling!: () => void;
    const assemblingStarted = new Promise<void>((resolve) => (assembling = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const input = await chunkedUpload(24 * HOUR);
    const activities: Partial<Activities> = {
      openUpload: async () => {},
      checkParts: async () => ({ missing: [] }),
      markCompleting: async () => {},
      assembleParts: async () => {
        assembling();
        await released;
      },
      verifyObject: async () => ({ sizeBytes: 10 * MiB, checksumSha256: 'ab'.repeat(32) }),
      commitUpload: async ({ uploadId }) => {
        committed.push(uploadId);
        return { assetId: input.assetId, versionId: input.versionId, versionsBeyondMax: 0 } as Awaited<ReturnType<Activities['commitUpload']>>;
      },
      discardUpload: async (req) => {
        discarded.push(req);
        return null;
      },
    };

    const { answer, state } = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start('uploadWorkflow', { workflowId: `upload-${input.uploadId}`, taskQueue, args: [input] });
      // As the API does, `complete` only once the session is open: sent with the start, it may reach the
      // run's first task, before its open, and be refused (upload is pending).
      await waitUntil('the session to open', async () => (await handle.query(statusQuery)).status === 'open', 30_000, 100);
      const completing = handle.executeUpdate(completeUpdate, { args: [{}] });
      await assemblingStarted;
      await handle.signal(abortSignal);
      release();
      const answer = await completing;
      return { answer, state: (await handle.result()) as UploadState };
    });

    expect(answer).toEqual({ assetId: input.assetId, versionId: input.versionId });
    expect(state).toEqual({ status: 'completed', error: null, result: { assetId: input.assetId, versionId: input.versionId } });
    expect(committed).toEqual([input.uploadId]);
    expect(discarded).toEqual([]);
  });
});

describe('outboxRelayWorkflow', () => {
  it('continues as new after its passes, carrying the count of failed probes (its backoff) into the next run', async () => {
    const probesSeen: number[] = [];
    const activities: Partial<Activities> = {
      // The hub stays down: each pass is one more failed probe, and the backoff is a millisecond.
      deliverPendingEvents: async (failedProbes = 0) => {
        probesSeen.push(failedProbes);
        return { delivered: 0, failed: 0, sleepMs: 1, failedProbes: failedProbes + 1 };
      },
    };

    const { firstRun, lastRun } = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start('outboxRelayWorkflow', { workflowId: outboxRelayWorkflowId(taskQueue), taskQueue, args: [0] });
      await waitUntil('the relay to make a pass in its next run', async () => probesSeen.length > 200, 60_000, 50);
      const lastRun = (await handle.describe()).runId;
      await handle.terminate('the test is done');
      return { firstRun: await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).describe(), lastRun };
    });

    expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
    expect(lastRun).not.toBe(firstRun.runId);
    expect(probesSeen.slice(0, 201)).toEqual(Array.from({ length: 201 }, (_, pass) => pass));
  }, 90_000);
});

describe('signals to upload runs that are gone', () => {
  const gone = () => `upload-${uuidv7()}`;

  it('deleteAssetWorkflow goes on past an upload run that does not exist', async () => {
    const assetId = uuidv7();
    const activities: Partial<Activities> = {
      hideAssetForDeletion: async () => {},
      abortAssetUploads: async () => ({ workflowIds: [gone()], more: false }),
      deleteAssetObjects: async () => ({ deleted: 3, more: false }),
      deleteAssetRows: async () => {},
    };

    const result = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute('deleteAssetWorkflow', { workflowId: deleteAssetWorkflowId(assetId), taskQueue, args: [{ assetId }] }),
    );

    expect(result).toEqual({ objectsDeleted: 3 });
  });

  it('the lifecycle sweep ends the session of an upload run that does not exist itself, as aborted', async () => {
    const runId = uuidv7();
    const uploadId = uuidv7();
    const discarded: Discard[] = [];
    const counts = { versions_expired: 0, assets_expired: 0, assets_purged: 0, uploads_aborted: 1, bytes_freed: 0 };
    const activities: Partial<Activities> = {
      beginLifecycleRun: async () => ({ phase: 'uploads', dryRun: false }),
      nextUploadBatch: async () => ({
        phase: 'done',
        dryRun: false,
        step: 1,
        cursor: { at: new Date(0).toISOString(), id: uploadId },
        items: [{ uploadId, workflowId: gone() }],
      }),
      commitLifecycleBatch: async () => {},
      completeLifecycleRun: async () => counts,
      discardUpload: async (req) => {
        discarded.push(req);
        return null;
      },
    };

    const result = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute('lifecycleSweepWorkflow', { workflowId: lifecycleWorkflowId(runId), taskQueue, args: [{ runId }] }),
    );

    expect(result).toEqual({ runId, counts });
    expect(discarded).toEqual([{ uploadId, status: 'aborted', error: null }]);
  });
});
