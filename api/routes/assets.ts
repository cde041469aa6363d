/** Assets: the simple upload of a new one, list, read, update, delete (soft or permanent), restore, grants, content. */
import type { Request, Response } from 'express';
import {
  assetEtag,
  getAsset,
  listAssets,
  patchAsset,
  restoreAsset,
  softDeleteAsset,
  toAssetJson,
  underAssetAt,
  updateAsset,
  type AssetRow,
} from '../../lib/assets/assets';
import { grantsSeenBy } from '../../lib/assets/permissions';
import { replaceGrants } from '../../lib/assets/grantChange';
import { deleteAssetPermanently } from '../../lib/assets/deletionRuns';
import { signalAbort } from '../../lib/uploads/uploadRuns';
import { assetFor, assetWithContentFor, currentOf } from '../access/assetLookup';
import { answerCommitted, newOrResumedUpload, sendUploadAccepted, uploadWaitOf } from '../http/accepted';
import { applyPreference, operationFieldsOf, preferredWait, setAccepted } from '../http/operations';
import { contentHandler } from '../http/contentRoute';
import { storedContentOf } from '../http/download';
import { listQueryOf, pageAnswer } from '../http/lists';
import { MERGE_PATCH } from '../http/jsonBody';
import { IF_NONE_MATCH_HEADER, ifMatchOf, sendTagged } from '../http/preconditions';
import { defineRoute, type LinkDoc } from '../http/route';
import { auditOf } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { uploadRecorderOf } from '../middleware/idempotency';
import { assetPatchBody, deleteAssetQuery, grantsBody, includeDeletedQuery, listAssetsQuery, updateAssetBody, uploadFormBody } from '../schemas/assets';
import { idParams, parse, redirectQuery } from '../schemas/common';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER } from '../schemas/operations';
import * as r from '../schemas/responses';
import { receiveSimpleUpload } from '../uploads/simpleUpload';

function sendAsset(req: Request, res: Response, row: AssetRow, status = 200) {
  sendTagged(req, res, assetEtag(row), toAssetJson(row, actorOf(res)), status);
}

const assetLinks: LinkDoc[] = [{ resource: '/api/v2/assets/:id', parameters: { id: '$response.body#/id', version_id: '$response.body#/current_version_id' } }];

const upload = defineRoute(
  {
    method: 'post',
    path: '/api/v2/assets/upload',
    access: 'caller',
    tag: 'assets',
    summary: 'Upload a file as a new asset (streamed, verified, committed by uploadWorkflow)',
    headers: PREFER_HEADER,
    body: uploadFormBody,
    preconditions: 'create',
    responses: {
      201: {
        description: 'the new asset',
        schema: r.asset,
        links: assetLinks,
        headers: { ...r.etagHeader, ...r.locationHeader('the asset'), ...PREFERENCE_APPLIED_HEADER },
      },
      202: r.uploadAcceptedAnswer,
      413: r.problemAnswer('over STORAGE_MAX_UPLOAD_SIZE'),
      415: r.contentTypeMismatchAnswer('not multipart'),
      422: r.problemAnswer('checksum mismatch'),
      507: r.overQuotaAnswer,
    },
  },
  (deps) => async (req, res) => {
    const { uploads, assetCache } = deps;
    const { wait, waitMs } = uploadWaitOf(req, deps.config);
    // The key's recorder is read as the upload starts: a retry may hold the key only from then (newOrResumedUpload).
    const simple = () => ({ config: deps.config, s3: deps.s3, uploads, countBytes: deps.metrics.countUploaded, recordUpload: uploadRecorderOf(res), waitMs });
    const outcome = await newOrResumedUpload(res, uploads, waitMs, () => receiveSimpleUpload(req, actorOf(res), simple()));
    if (!outcome.done || wait?.ms === 0) {
      sendUploadAccepted(res, outcome.uploadId, wait);
      return;
    }
    applyPreference(res, wait);
    const { assetId } = outcome.result;
    await answerCommitted(res, outcome.uploadId, async () => {
      await assetCache.invalidate([assetId]);
      const asset = await getAsset(deps.db, assetId);
      res.setHeader('Location', `/api/v2/assets/${asset.id}`);
      sendAsset(req, res, asset, 201);
    });
  },
);

const list = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets',
    access: 'caller',
    tag: 'assets',
    summary: 'List assets',
    query: listAssetsQuery,
    responses: { 200: pageAnswer(r.asset) },
  },
  (deps) => async (req, res) => {
    res.json(await listAssets(deps.db, actorOf(res), listQueryOf(listAssetsQuery, req, res)));
  },
);

const read = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'One asset (ETag for If-Match)',
    params: idParams,
    query: includeDeletedQuery,
    headers: IF_NONE_MATCH_HEADER,
    responses: {
      200: { description: 'the asset', schema: r.asset, headers: r.etagHeader },
      304: { description: 'not modified: the asset still has an ETag sent in If-None-Match', headers: r.etagHeader },
      404: r.problemAnswer('unknown or soft-deleted'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const { include_deleted } = parse(includeDeletedQuery, req.query, 'query');
    sendAsset(req, res, await assetFor(deps.assetCache, actorOf(res), id, 'read', { includeDeleted: include_deleted }));
  },
);

const update = defineRoute(
  {
    method: 'put',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'Replace the given fields (optional If-Match)',
    params: idParams,
    body: { schema: updateAssetBody },
    preconditions: 'existing',
    responses: { 200: { description: 'the asset', schema: r.asset, headers: r.etagHeader }, 412: r.problemAnswer('If-Match is stale') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    // A body the JSON parser passed over (another Content-Type) would otherwise read as "change nothing".
    const patch = parse(updateAssetBody, req.body ?? {}, 'body');
    await assetFor(deps.assetCache, actorOf(res), id, 'write');
    const updated = await updateAsset(deps.db, id, patch, ifMatchOf(req), auditOf(res));
    await deps.assetCache.invalidate([id]);
    sendAsset(req, res, updated);
  },
);

const patch = defineRoute(
  {
    method: 'patch',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'Change an asset by a JSON merge patch (RFC 7396): in metadata a null removes its key (optional If-Match)',
    params: idParams,
    body: { schema: assetPatchBody, content: MERGE_PATCH },
    preconditions: 'existing',
    responses: {
      200: { description: 'the asset (ETag: its new one)', schema: r.asset, headers: r.etagHeader },
      415: r.problemAnswer(`the body is not ${MERGE_PATCH}`),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(assetPatchBody, req.body, 'body');
    await assetFor(deps.assetCache, actorOf(res), id, 'write');
    const updated = await patchAsset(deps.db, id, body, ifMatchOf(req), auditOf(res));
    await deps.assetCache.invalidate([id]);
    sendAsset(req, res, updated);
  },
);

const remove = defineRoute(
  {
    method: 'delete',
    path: '/api/v2/assets/:id',
    access: 'caller',
    tag: 'assets',
    summary: 'Soft delete; ?permanent=true removes every version through deleteAssetWorkflow',
    params: idParams,
    query: deleteAssetQuery,
    preconditions: 'existing',
    headers: PREFER_HEADER,
    responses: {
      204: { description: 'deleted', headers: PREFERENCE_APPLIED_HEADER },
      202: {
        description: 'permanent deletion under way (past Prefer: wait=N, else STORAGE_UPLOAD_WAIT_SECONDS): follow Location, its operation',
        schema: r.workflowAccepted,
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
    },
  },
  (deps) => async (req, res) => {
    const { assetCache } = deps;
    const { id } = parse(idParams, req.params, 'path');
    const { permanent } = parse(deleteAssetQuery, req.query, 'query');
    if (!permanent) {
      await assetFor(assetCache, actorOf(res), id, 'write');
      await softDeleteAsset(deps.db, id, auditOf(res), ifMatchOf(req));
      await assetCache.invalidate([id]);
      res.status(204).end();
      return;
    }
    await assetFor(assetCache, actorOf(res), id, 'own', { includeDeleted: true });
    // If-Match holds under the asset's row lock as the deletion starts (its first step waits for that lock).
    const startUnder = underAssetAt(deps.db, id, ifMatchOf(req));
    const wait = preferredWait(req, deps.config.http.requestTimeoutMs);
    const { done, workflowId } = await deleteAssetPermanently(deps.deletions, actorOf(res), id, wait?.ms ?? deps.config.uploads.waitSeconds * 1000, startUnder);
    applyPreference(res, wait);
    if (done) await assetCache.invalidate([id]);
    if (done) res.status(204).end();
    else setAccepted(res, workflowId).json({ workflow_id: workflowId, ...operationFieldsOf(workflowId) });
  },
);

const restore = defineRoute(
  {
    method: 'post',
    path: '/api/v2/assets/:id/restore',
    access: 'caller',
    tag: 'assets',
    summary: "Undo a soft delete (optional If-Match: the deleted asset's ETag, read with include_deleted)",
    params: idParams,
    preconditions: 'existing',
    responses: { 200: { description: 'the asset', schema: r.asset, headers: r.etagHeader }, 409: r.problemAnswer('not deleted, or being deleted for good') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await assetFor(deps.assetCache, actorOf(res), id, 'own', { includeDeleted: true });
    const restored = await restoreAsset(deps.db, id, auditOf(res), ifMatchOf(req));
    await deps.assetCache.invalidate([id]);
    sendAsset(req, res, restored);
  },
);

const grants = defineRoute(
  {
    method: 'put',
    path: '/api/v2/assets/:id/grants',
    access: 'caller',
    tag: 'assets',
    summary: "Replace the asset's grants (owner, services and admins): read, or also write (versions, metadata, soft delete); optional If-Match",
    params: idParams,
    body: { schema: grantsBody },
    preconditions: 'existing',
    responses: {
      200: { description: "the grants (ETag: the asset's new one)", schema: r.grantList, headers: r.etagHeader },
      403: r.problemAnswer('not the owner'),
      412: r.problemAnswer('If-Match is stale: the asset changed since it was read, and its grants are as they were'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const given = parse(grantsBody, req.body, 'body');
    await assetFor(deps.assetCache, actorOf(res), id, 'own');
    // If-Match: grants read, changed and written back are not written over a change made meanwhile (a revocation).
    const { ended, etag } = await replaceGrants(deps.db, id, given, ifMatchOf(req), auditOf(res));
    await deps.assetCache.invalidate([id]);
    // Their rows ended with the change; told now, their runs drop their bytes (or expiry does, should this not get through).
    await Promise.all(ended.map((s) => signalAbort(deps.uploads, s.id, s.reason)));
    res.setHeader('ETag', etag).json({ grants: (await getAsset(deps.db, id)).grants });
  },
);

const readGrants = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id/grants',
    access: 'caller',
    tag: 'assets',
    summary: "The asset's grants (owner, services and admins), with the asset's ETag for If-Match on PUT",
    params: idParams,
    headers: IF_NONE_MATCH_HEADER,
    responses: {
      200: { description: "the grants (ETag: the asset's)", schema: r.grantList, headers: r.etagHeader },
      304: { description: 'If-None-Match holds: the asset (and so its grants) is as it was read', headers: r.etagHeader },
      403: r.problemAnswer('not the owner'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    // Whoever may change the grants may read them whole: the owner, services and admins (as PUT).
    const asset = await assetFor(deps.assetCache, actorOf(res), id, 'own');
    sendTagged(req, res, assetEtag(asset), { grants: grantsSeenBy(actorOf(res), asset) });
  },
);

const content = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id/content',
    access: 'caller',
    tag: 'assets',
    summary: "The current version's bytes (Range, If-None-Match, HEAD), streamed or straight from the store",
    params: idParams,
    query: redirectQuery,
    headers: r.contentRequestHeaders,
    responses: r.contentAnswers,
  },
  (deps) =>
    contentHandler(deps, async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      const { asset, content: facts } = await assetWithContentFor(deps.assetCache, actorOf(res), id, 'read');
      return storedContentOf(asset, currentOf(asset, facts));
    }),
);

export const ASSET_ROUTES = [upload, list, read, update, patch, remove, restore, grants, readGrants, content];
