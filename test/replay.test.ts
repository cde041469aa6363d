/**
 * Workflow code must stay deterministic: recorded histories (test/fixtures/histories, kept from
 * earlier versions of the code) and fresh ones of every upload path are replayed against the current
 * bundle. A change that would break running workflows fails here. `STORAGE_RECORD_HISTORIES=1`
 * writes the fresh histories as the new fixtures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { bytesOf, sha256, uploadAsset } from './support/assets';
import { PART, abortUpload, completeUpload, createUpload, partOf, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { FIXTURES, historyFromJson, recordHistories, replay } from './support/replay';

describe('recorded histories', () => {
  const files = fs.existsSync(FIXTURES) ? fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')) : [];

  it('are there to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it('replay against the current workflow code', async () => {
    const histories = files.map((file) => ({
      workflowId: path.basename(file, '.json'),
      history: historyFromJson(fs.readFileSync(path.join(FIXTURES, file), 'utf8')),
    }));
    expect(await replay(histories)).toEqual([]);
  });
});

describe('fresh histories of each upload path', () => {
  const ctx = useTestService();

  it('replay against the code that made them', async () => {
    const runs: Record<string, string> = {};

    const simple = bytesOf(1000);
    const uploaded = await uploadAsset(ctx.baseUrl, simple, { name: 'simple.bin', checksum_sha256: sha256(simple) });
    expect(uploaded.status).toBe(201);
    // Started without waiting for its open and finished in one local activity (the recorded
    // upload-simple-store-checksum.json opened first and finished in three; upload-simple.json read the object back).
    runs['upload-simple-one-step'] = (await ctx.db('upload_sessions').where({ result_asset_id: uploaded.body.id }).first()).id;

    const rejected = await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'rejected.bin', checksum_sha256: sha256(Buffer.from('no')) });
    expect(rejected.status).toBe(422);

    const chunkedFile = bytesOf(PART + 10);
    const session = await createUpload(ctx.baseUrl, {
      name: 'chunked.bin',
      size_bytes: chunkedFile.length,
      checksum_sha256: sha256(chunkedFile),
      part_size_bytes: PART,
    });
    runs['upload-chunked-missing-then-complete'] = session.body.id;
    await putPart(ctx.baseUrl, session.body.id, 2, partOf(chunkedFile, 2));
    expect((await completeUpload(ctx.baseUrl, session.body.id)).status).toBe(409);
    await putPart(ctx.baseUrl, session.body.id, 1, partOf(chunkedFile, 1));
    expect((await completeUpload(ctx.baseUrl, session.body.id)).status).toBe(200);

    const aborted = await createUpload(ctx.baseUrl, { name: 'aborted.bin', size_bytes: 10 });
    runs['upload-chunked-aborted'] = aborted.body.id;
    expect((await abortUpload(ctx.baseUrl, aborted.body.id)).status).toBe(204);

    const mismatch = await createUpload(ctx.baseUrl, { name: 'mismatch.bin', size_bytes: 10, checksum_sha256: sha256(Buffer.from('other')) });
    runs['upload-chunked-checksum-mismatch'] = mismatch.body.id;
    await putPart(ctx.baseUrl, mismatch.body.id, 1, bytesOf(10));
    expect((await completeUpload(ctx.baseUrl, mismatch.body.id)).status).toBe(422);

    const histories = await Promise.all(
      Object.entries(runs).map(async ([name, uploadId]) => ({
        name,
        workflowId: uploadWorkflowId(uploadId),
        history: await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(uploadId)).fetchHistory(),
      })),
    );
    expect(await replay(histories)).toEqual([]);
    recordHistories(histories);
  }, 60_000);
});
