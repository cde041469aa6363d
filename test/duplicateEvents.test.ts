/**
 * An incoming event delivered again after Temporal forgot its upload's run (issue 26, finding 7): the
 * server's retention removes a closed run, and REJECT_DUPLICATE with it. Here the run's history is
 * deleted, as retention does. The repeat is recognised from the catalog and answered as the first was,
 * starting nothing; and a run of the same upload started all the same (an API that did not look) never
 * writes over the committed version's object: its bytes, size and SHA-256 stay what the catalog says.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowNotFoundError } from '@temporalio/common';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROLES } from '../workflows/shared/actor';
import { uuidv7 } from '../lib/platform/ids';
import { ingestIdsOf } from '../lib/uploads/ingest';
import { newUploadInput } from '../lib/uploads/input';
import { openUploadSession } from '../lib/uploads/uploadRuns';
import type { UploadState } from '../workflows/uploads/definitions';
import { bytesOf, download, sha256 } from './support/assets';

jest.setTimeout(300_000);
import { useTestService } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';

let files: http.Server;
let filesUrl: string;
/** What the source serves now: the test empties it before the repeat. */
let served = bytesOf(100_000);
let fetches = 0;

beforeAll(async () => {
  files = http.createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(served);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
const ctx = useTestService(() => ({ STORAGE_INGEST_ALLOWED_HOSTS: new URL(filesUrl).host }));
afterAll(async () => {
  files?.closeAllConnections();
  files?.close();
});

const requested = (id: string) => ({
  specversion: '1.0',
  id,
  source: 'character-service',
  type: 'service.asset.requested',
  data: { source_url: `${filesUrl}/item.bin`, name: `item ${id}` },
});
const post = (body: unknown) =>
  call(`${ctx.baseUrl}/api/v2/events`, { method: 'POST', json: body, headers: { 'content-type': 'application/cloudevents+json' } });

/** The closed run deleted, as the server's retention does: REJECT_DUPLICATE no longer knows it. */
async function forgetRun(workflowId: string): Promise<void> {
  await ctx.temporal.client.workflowService.deleteWorkflowExecution({ namespace: ctx.config.temporal.namespace, workflowExecution: { workflowId } });
  // The server deletes a run in the background, after its visibility record.
  await waitUntil(
    `run ${workflowId} forgotten`,
    async () => {
      try {
        await ctx.temporal.client.workflow.getHandle(workflowId).describe();
        return false;
      } catch (err) {
        return err instanceof WorkflowNotFoundError;
      }
    },
    120_000,
    250,
  );
}

/** The run's outcome, or undefined when no run of that id exists. */
async function outcomeIfRunning(workflowId: string): Promise<UploadState | undefined> {
  try {
    return (await ctx.temporal.client.workflow.getHandle(workflowId).result()) as UploadState;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** What the store holds at the version's key, and what the catalog says of it. */
async function versionOf(assetId: string) {
  const version = await ctx.db('asset_versions').where({ asset_id: assetId }).first();
  const head = await ctx.s3.send(new HeadObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key }));
  const object = await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key }));
  const stored = Buffer.from(await object.Body!.transformToByteArray());
  return {
    catalog: { size: Number(version.size_bytes), sha256: version.checksum_sha256 as string },
    stored: { size: head.ContentLength, sha256: sha256(stored) },
  };
}

/** An event ingested once, its run then forgotten, and its source now serving an empty body. */
async function ingestedThenForgotten() {
  served = bytesOf(100_000);
  const content = served;
  const event = requested(`evt-dup-${uuidv7()}`);
  const first = await post(event);
  // The whole answer, so a refusal shows its problem's detail.
  expect(first).toMatchObject({ status: 202 });
  const state = await outcomeIfRunning(first.body.workflow_id);
  expect(state?.status).toBe('completed');
  await forgetRun(first.body.workflow_id);
  served = Buffer.alloc(0);
  return { event, first, assetId: state!.result!.assetId, content };
}

async function expectIntact(assetId: string, content: Buffer): Promise<void> {
  const { catalog, stored } = await versionOf(assetId);
  expect(catalog).toEqual({ size: content.length, sha256: sha256(content) });
  expect(stored).toEqual(catalog);
  const got = await download(`${ctx.baseUrl}/api/v2/assets/${assetId}/content`);
  expect(sha256(got.body)).toBe(sha256(content));
}

it('the same event after its run was forgotten is answered as the first was, starts nothing, and leaves the object as committed', async () => {
  const { event, first, assetId, content } = await ingestedThenForgotten();
  const fetchesBefore = fetches;
  const again = await post(event);
  expect(again.status).toBe(202);
  expect(again.body).toEqual(first.body);
  const rerun = await outcomeIfRunning(first.body.workflow_id);
  await expectIntact(assetId, content);
  expect(rerun).toBeUndefined();
  expect(fetches).toBe(fetchesBefore);
  expect(await ctx.db('assets').where({ name: event.data.name })).toHaveLength(1);
});

it('so is it once table retention has removed its ended session: the version it made is what the catalog knows', async () => {
  const { event, first, assetId, content } = await ingestedThenForgotten();
  await ctx.db('upload_sessions').where({ workflow_id: first.body.workflow_id }).delete();
  const again = await post(event);
  expect(again).toMatchObject({ status: 202, body: first.body });
  const rerun = await outcomeIfRunning(first.body.workflow_id);
  await expectIntact(assetId, content);
  expect(rerun).toBeUndefined();
});

describe('a run of the committed upload started all the same (an API that did not look first)', () => {
  /** What startIngest started before it looked: the same input, the same ids. */
  const startDirectly = async (eventId: string) => {
    const input = newUploadInput(
      ctx.config,
      { kind: 'fetch', name: `item ${eventId}`, contentType: 'application/octet-stream', sourceUrl: `${filesUrl}/item.bin` },
      undefined,
      'character-service',
      ingestIdsOf(eventId),
    );
    const actor = { sub: 'character-service', roles: [ROLES.service] };
    // A run that ends failed at its open answers the open with its failure: its outcome is read below.
    await openUploadSession({ client: ctx.temporal.client, taskQueue: ctx.config.temporal.taskQueue, db: ctx.db }, actor, input).catch(() => undefined);
    return (await ctx.temporal.client.workflow.getHandle(`upload-${input.uploadId}`).result()) as UploadState;
  };

  it('fetches nothing over the version: it ends completed with what the first run made', async () => {
    const { event, assetId, content } = await ingestedThenForgotten();
    const fetchesBefore = fetches;
    const state = await startDirectly(event.id);
    await expectIntact(assetId, content);
    expect(state).toMatchObject({ status: 'completed', result: { assetId } });
    expect(fetches).toBe(fetchesBefore);
  });

  it('with its session gone too, it opens none and ends without touching the version', async () => {
    const { event, first, assetId, content } = await ingestedThenForgotten();
    await ctx.db('upload_sessions').where({ workflow_id: first.body.workflow_id }).delete();
    const state = await startDirectly(event.id);
    await expectIntact(assetId, content);
    expect(state.status).toBe('failed');
    expect(state.error).toMatch(/made its version before/);
    expect(await ctx.db('upload_sessions').where({ workflow_id: first.body.workflow_id })).toEqual([]);
    await expectIntact(assetId, content);
  });
});
