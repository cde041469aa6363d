/**
 * Issue 28, concurrency of a restore to a point in time. Held where it has planned an asset's copy
 * upload (lib/assets/pausePoints.ts, `point-in-time-planned`), it meets (1) the owner's upload of a new
 * version of that asset, (2) a second restore of the same asset to another moment, each run to its end
 * meanwhile. The stated outcome: the later commit is the current version; every acknowledged version
 * is kept with its bytes; each restore's item says it restored the asset. (3) An attempt that dies
 * after it brought a soft-deleted asset back, before its copy upload: the retry restores the bytes,
 * and the asset's item still says it was undeleted.
 */
import { holdAt } from '../lib/assets/pausePoints';
import { bytesOf, download, sha256 } from './support/assets';
import { addAsset, addVersion } from './support/catalog';
import { resetAll } from './support/backups';
import { startTestService, type TestContext } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await startTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '60', STORAGE_MAX_VERSIONS: '1000' });
});
afterAll(async () => {
  await ctx?.stop();
});
afterEach(async () => {
  await resetAll(ctx);
});

async function now(): Promise<string> {
  const at = Date.now();
  await waitUntil('the clock to move', async () => Date.now() > at + 2);
  return new Date(at).toISOString();
}

async function startRestore(assetId: string, asOf: string): Promise<string> {
  const res = await call(`${ctx.baseUrl}/api/v2/restores`, { method: 'POST', json: { as_of: asOf, asset_ids: [assetId], dry_run: false } });
  expect(res.status).toBe(202);
  return res.body.id;
}

async function ended(restoreId: string): Promise<any> {
  return waitUntil(
    `restore ${restoreId} to end`,
    async () => {
      const got = await call(`${ctx.baseUrl}/api/v2/restores/${restoreId}`);
      return got.body.status === 'completed' || got.body.status === 'failed' ? got.body : undefined;
    },
    120_000,
    250,
  );
}

async function items(restoreId: string): Promise<any[]> {
  return (await call(`${ctx.baseUrl}/api/v2/restores/${restoreId}/items`)).body.items;
}

async function contentSha(path: string): Promise<string> {
  const res = await download(`${ctx.baseUrl}/api/v2/assets/${path}`);
  expect(res.status).toBe(200);
  return sha256(res.body);
}

const versionCount = async (assetId: string) => Number((await ctx.db('asset_versions').where({ asset_id: assetId }).count('* as n'))[0].n);

/** An asset whose bytes at the answered moment were `then`, changed since to `later`. */
async function changedAsset() {
  const then = bytesOf(1200);
  const created = await addAsset(ctx.baseUrl, then, { name: 'race/pit.bin' });
  expect(created.status).toBe(201);
  const asOf = await now();
  const later = bytesOf(1300);
  expect((await addVersion(ctx.baseUrl, created.body.id, later)).status).toBe(201);
  return { assetId: created.body.id as string, then, later, asOf };
}

it('an upload committed while the restore is between its plan and its copy stays, noncurrent: the restore commits last', async () => {
  const { assetId, then, asOf } = await changedAsset();
  const hold = holdAt('point-in-time-planned', [assetId]);
  let restoreId: string | undefined;
  const owners = bytesOf(1400);
  let ownersVersion: string | undefined;
  try {
    restoreId = await startRestore(assetId, asOf);
    await hold.reached;
    const added = await addVersion(ctx.baseUrl, assetId, owners);
    expect(added.status).toBe(201);
    ownersVersion = added.body.id;
  } finally {
    hold.release();
  }
  expect((await ended(restoreId!)).status).toBe('completed');
  expect(await items(restoreId!)).toMatchObject([{ asset_id: assetId, status: 'restored', source: 'version' }]);
  expect(await contentSha(`${assetId}/content`)).toBe(sha256(then));
  // The owner's acknowledged version is kept, with its bytes.
  expect(await contentSha(`${assetId}/versions/${ownersVersion}/content`)).toBe(sha256(owners));
  expect(await versionCount(assetId)).toBe(4);
});

it('two restores of one asset to different moments at once: both restore it, the one that commits last is current, no version lost', async () => {
  const { assetId, then, later } = await changedAsset();
  const asOfLater = await now();
  expect((await addVersion(ctx.baseUrl, assetId, bytesOf(1500))).status).toBe(201);
  const asOfFirst = (await ctx.db('asset_versions').where({ asset_id: assetId, version_number: 1 }).first('created_at')).created_at as Date;
  const hold = holdAt('point-in-time-planned', [assetId]);
  let held: string | undefined;
  try {
    held = await startRestore(assetId, new Date(asOfFirst.getTime() + 1).toISOString());
    await hold.reached;
    const other = await startRestore(assetId, asOfLater);
    expect((await ended(other)).status).toBe('completed');
    expect(await items(other)).toMatchObject([{ asset_id: assetId, status: 'restored' }]);
    expect(await contentSha(`${assetId}/content`)).toBe(sha256(later));
  } finally {
    hold.release();
  }
  expect((await ended(held!)).status).toBe('completed');
  expect(await items(held!)).toMatchObject([{ asset_id: assetId, status: 'restored' }]);
  expect(await contentSha(`${assetId}/content`)).toBe(sha256(then));
  expect(await versionCount(assetId)).toBe(5);
});

it('an attempt that dies after undeleting the asset and before its copy: the retry restores it, and its item says undeleted', async () => {
  const { assetId, then, asOf } = await changedAsset();
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}`, { method: 'DELETE' })).status).toBe(204);
  const hold = holdAt('point-in-time-planned', [assetId]);
  let restoreId: string | undefined;
  try {
    restoreId = await startRestore(assetId, asOf);
    await hold.reached;
    // The asset is live again: the attempt undeleted it before it planned the copy.
    expect((await ctx.db('assets').where({ id: assetId }).first('is_deleted')).is_deleted).toBe(false);
    hold.crash('the worker died after the undelete');
  } finally {
    hold.release();
  }
  expect((await ended(restoreId!)).status).toBe('completed');
  expect(await items(restoreId!)).toMatchObject([{ asset_id: assetId, status: 'restored', source: 'version', undeleted: true }]);
  expect(await contentSha(`${assetId}/content`)).toBe(sha256(then));
});
