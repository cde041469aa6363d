import { Router, type Response } from 'express';
import { sendUploadAccepted } from '../http/accepted';
import { jsonBody } from '../http/jsonBody';
import { assetEtag, getAsset, listAssets, restoreAsset, softDeleteAsset, toAssetJson, updateAsset, type AssetRow } from '../../lib/assets/assets';
import { replaceGrants } from '../../lib/assets/grantChange';
import { deleteAssetPermanently } from '../../lib/assets/deletionRuns';
import { signalAbort } from '../../lib/uploads/uploadRuns';
import { assetFor, assetWithContentFor, currentOf } from '../access/assetLookup';
import { auditOf } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { contentRedirectsOf, redirectToStore } from '../http/contentRedirect';
import { contentSourceOf, sendContent, storedContentOf } from '../http/download';
import { deleteAssetQuery, grantsBody, includeDeletedQuery, listAssetsQuery, updateAssetBody } from '../schemas/assets';
import { idParams, parse } from '../schemas/common';
import { receiveSimpleUpload } from '../uploads/simpleUpload';

export function sendAsset(res: Response, row: AssetRow, status = 200) {
  res
    .status(status)
    .setHeader('ETag', assetEtag(row))
    .json(toAssetJson(row, actorOf(res)));
}

export function assetsRouter(
  deps: Pick<AppDeps, 'config' | 'db' | 's3' | 'logger' | 'metrics' | 'uploads' | 'deletions' | 'assetCache' | 'contentCache'>,
): Router {
  const router = Router();
  const { uploads, assetCache } = deps;
  const contents = contentSourceOf(deps);
  const redirects = contentRedirectsOf(deps);
  const waitMs = deps.config.uploads.waitSeconds * 1000;

  router.post('/api/v2/assets/upload', async (req, res) => {
    const outcome = await receiveSimpleUpload(req, actorOf(res), { config: deps.config, s3: deps.s3, uploads, countBytes: deps.metrics.countUploaded });
    if (!outcome.done) {
      sendUploadAccepted(res, outcome.uploadId);
      return;
    }
    await assetCache.invalidate([outcome.result.assetId]);
    const asset = await getAsset(deps.db, outcome.result.assetId);
    res.setHeader('Location', `/api/v2/assets/${asset.id}`);
    sendAsset(res, asset, 201);
  });

  router.get('/api/v2/assets', async (req, res) => {
    res.json(await listAssets(deps.db, actorOf(res), parse(listAssetsQuery, req.query, 'query')));
  });

  router.get('/api/v2/assets/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const { include_deleted } = parse(includeDeletedQuery, req.query, 'query');
    sendAsset(res, await assetFor(assetCache, actorOf(res), id, 'read', { includeDeleted: include_deleted }));
  });

  router.put('/api/v2/assets/:id', jsonBody, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    // A body the JSON parser passed over (another Content-Type) would otherwise read as "change nothing".
    const patch = parse(updateAssetBody, req.body ?? {}, 'body');
    await assetFor(assetCache, actorOf(res), id, 'write');
    const updated = await updateAsset(deps.db, id, patch, req.get('If-Match'), auditOf(res));
    await assetCache.invalidate([id]);
    sendAsset(res, updated);
  });

  router.delete('/api/v2/assets/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const { permanent } = parse(deleteAssetQuery, req.query, 'query');
    if (!permanent) {
      await assetFor(assetCache, actorOf(res), id, 'write');
      await softDeleteAsset(deps.db, id, auditOf(res));
      await assetCache.invalidate([id]);
      res.status(204).end();
      return;
    }
    await assetFor(assetCache, actorOf(res), id, 'own', { includeDeleted: true });
    const { done, workflowId } = await deleteAssetPermanently(deps.deletions, actorOf(res), id, waitMs);
    if (done) await assetCache.invalidate([id]);
    if (done) res.status(204).end();
    else res.status(202).json({ workflow_id: workflowId });
  });

  router.post('/api/v2/assets/:id/restore', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await assetFor(assetCache, actorOf(res), id, 'own', { includeDeleted: true });
    const restored = await restoreAsset(deps.db, id, auditOf(res));
    await assetCache.invalidate([id]);
    sendAsset(res, restored);
  });

  router.put('/api/v2/assets/:id/grants', jsonBody, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const grants = parse(grantsBody, req.body, 'body');
    await assetFor(assetCache, actorOf(res), id, 'own');
    // If-Match: grants read, changed and written back are not written over a change made meanwhile (a revocation).
    const { ended, etag } = await replaceGrants(deps.db, id, grants, req.get('If-Match'), auditOf(res));
    await assetCache.invalidate([id]);
    // Their rows ended with the change; told now, their runs drop their bytes (or expiry does, should this not get through).
    await Promise.all(ended.map((s) => signalAbort(uploads, s.id, s.reason)));
    res.setHeader('ETag', etag).json({ grants: (await getAsset(deps.db, id)).grants });
  });

  router.get('/api/v2/assets/:id/content', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const { asset, content } = await assetWithContentFor(assetCache, actorOf(res), id, 'read');
    const stored = storedContentOf(asset, currentOf(asset, content));
    if (await redirectToStore(req, res, redirects, stored)) return;
    await sendContent(req, res, contents, stored);
  });

  return router;
}
