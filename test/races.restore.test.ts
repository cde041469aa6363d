/**
 * Issue 26, finding 5 (its backup part): a `missing`-mode backup restore meets a permanent deletion
 * that has hidden the asset, marked it purging and listed its prefix. The deletion is held at its
 * object deletion (its DeleteObjects, through an S3 proxy in front of the worker); the restore runs
 * to its end meanwhile, then the deletion goes on. The restore skips the asset and copies nothing for
 * it: no object of it outlives its rows, and the restore does not say it brought the asset back.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { assetKeyPrefix } from '../lib/assets/keys';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { bytesOf, postForm, uploadAsset } from './support/assets';
import { resetAll, runBackup, runRestore, settled } from './support/backups';
import { keysOf } from './support/catalog';
import { startTestService, type RunningWorker, type TestContext } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { startS3Proxy, type S3Proxy } from './support/s3Proxy';

let ctx: TestContext;
let proxy: S3Proxy;
let worker: RunningWorker;
/** While set, the first DeleteObjects from the worker is held (later ones pass). */
let armed = false;
beforeAll(async () => {
  ctx = await startTestService({ STORAGE_MAX_VERSIONS: '1000' }, { worker: false });
  proxy = await startS3Proxy(ctx.config.s3.endpoint);
  proxy.hold((req, log) => armed && req.method === 'POST' && /[?&]delete/.test(req.path) && !log.some((r) => r.held));
  worker = await ctx.startWorker({ s3Endpoint: proxy.url });
});
afterAll(async () => {
  proxy?.release();
  await worker?.stop();
  await proxy?.close();
  await ctx?.stop();
});
afterEach(async () => {
  armed = false;
  proxy.release();
  await resetAll(ctx);
});

/** An asset of two versions, both backed up, whose first version's object was then lost. */
async function backedUpAssetMissingAnObject(): Promise<{ assetId: string; backupId: string }> {
  const created = await uploadAsset(ctx.baseUrl, bytesOf(300), { name: 'race/restore.bin' });
  expect(created.status).toBe(201);
  const assetId: string = created.body.id;
  expect((await postForm(`${ctx.baseUrl}/api/v2/assets/${assetId}/versions`, bytesOf(200), { name: 'race/restore.bin' })).status).toBe(201);
  const versions = await ctx.db('asset_versions').where({ asset_id: assetId }).orderBy('version_number');
  // The upload runs have ended: no DeleteObjects of theirs comes later.
  for (const v of versions) await ctx.temporal.client.workflow.getHandle(uploadWorkflowId(v.upload_id)).result();
  const backup = await runBackup(ctx, { includeAllVersions: true });
  expect(backup.status).toBe('completed');
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: versions[0].object_key }));
  return { assetId, backupId: backup.id };
}

it('a missing-mode restore during a permanent deletion that listed the asset copies nothing that outlives it', async () => {
  const { assetId, backupId } = await backedUpAssetMissingAnObject();

  armed = true;
  const deletion = await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' });
  expect(deletion.status).toBe(202);
  await waitUntil('the deletion to be held at its object deletion', async () => proxy.held() === 1, 60_000);
  expect((await ctx.db('assets').where({ id: assetId }).first()).purging_since).not.toBeNull();

  const restore = await runRestore(ctx, backupId, { mode: 'missing' });
  expect(restore.status).toBe('completed');

  proxy.release();
  await settled(ctx, deletion.body.workflow_id);
  expect(await ctx.db('assets').where({ id: assetId }).first()).toBeUndefined();
  expect(await keysOf(ctx, ctx.config.s3.bucket, assetKeyPrefix(assetId))).toEqual([]);
  // The restore does not say it brought back an asset its deletion then removed.
  const item = await ctx.db('restore_items').where({ restore_id: restore.id, asset_id: assetId }).first();
  expect(item).toMatchObject({ status: 'skipped', objects_copied: 0 });
}, 120_000);
