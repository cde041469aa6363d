/** An asset's versions: list, upload a new current one, read, content, and restore an earlier one as the new current. */
import type { Response } from 'express';
import { z } from 'zod';
import { committedVersion, getVersion, listVersions, toVersionJson } from '../../lib/assets/versions';
import { findVersion } from '../../lib/assets/store';
import { versionTargetOf } from '../../lib/assets/permissions';
import { NotFoundError } from '../../lib/platform/errors';
import { completeUploadSession, openUploadSession, type CompleteOutcome } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { assetFor, assetWithContentFor } from '../access/assetLookup';
import { sessionAccessOf } from '../access/sessionAccess';
import { answerCommitted, newOrResumedUpload, sendUploadAccepted, uploadWaitOf } from '../http/accepted';
import { applyPreference, type PreferredWait } from '../http/operations';
import { contentHandler } from '../http/contentRoute';
import { refuseDamaged } from '../../lib/scrub/damage';
import { storedContentOf } from '../http/download';
import { listQueryOf, pageAnswer } from '../http/lists';
import { ifMatchOf } from '../http/preconditions';
import { defineRoute, type LinkDoc, type RouteDeps } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { uploadRecorderOf } from '../middleware/idempotency';
import { versionFormBody } from '../schemas/assets';
import { idParams, pageQuery, parse, redirectQuery, versionParams } from '../schemas/common';
import { PREFERENCE_APPLIED_HEADER, PREFER_HEADER } from '../schemas/operations';
import * as r from '../schemas/responses';
import { receiveSimpleUpload } from '../uploads/simpleUpload';

const listVersionsQuery = z.object(pageQuery).strict();
const versionLinks: LinkDoc[] = [
  { resource: '/api/v2/assets/:id/versions/:version_id', parameters: { id: '$response.body#/asset_id', version_id: '$response.body#/id' } },
];

/** 201 with the version an upload made, or 202 while it still finishes. */
async function answerNewVersion(
  deps: Pick<RouteDeps, 'db' | 'assetCache'>,
  res: Response,
  outcome: CompleteOutcome & { uploadId: string },
  wait: PreferredWait | undefined,
) {
  if (!outcome.done || wait?.ms === 0) {
    sendUploadAccepted(res, outcome.uploadId, wait);
    return;
  }
  applyPreference(res, wait);
  const { assetId, versionId } = outcome.result;
  await answerCommitted(res, outcome.uploadId, async () => {
    await deps.assetCache.invalidate([assetId]);
    // With many uploads at once, newer ones may already have pruned this version past
    // STORAGE_MAX_VERSIONS: it was made all the same, and the answer says what was made.
    const row = await findVersion(deps.db, assetId, versionId);
    const version = row ? toVersionJson(row) : await committedVersion(deps.db, assetId, versionId, outcome.uploadId);
    if (!version) throw new NotFoundError(`version ${versionId} of asset ${assetId} not found`);
    res.status(201).setHeader('Location', `/api/v2/assets/${assetId}/versions/${versionId}`).json(version);
  });
}

const list = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id/versions',
    access: 'caller',
    tag: 'versions',
    summary: 'Versions, newest first',
    params: idParams,
    query: listVersionsQuery,
    responses: { 200: pageAnswer(r.version) },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await assetFor(deps.assetCache, actorOf(res), id, 'read');
    res.json(await listVersions(deps.db, id, listQueryOf(listVersionsQuery, req, res)));
  },
);

const upload = defineRoute(
  {
    method: 'post',
    path: '/api/v2/assets/:id/versions',
    access: 'caller',
    tag: 'versions',
    summary: 'Upload a new current version',
    params: idParams,
    headers: PREFER_HEADER,
    body: versionFormBody,
    preconditions: 'existing',
    responses: {
      201: {
        description: 'the version',
        schema: r.version,
        links: versionLinks,
        headers: { ...r.locationHeader('the version'), ...PREFERENCE_APPLIED_HEADER },
      },
      202: r.uploadAcceptedAnswer,
      403: r.problemAnswer('read only, or made so while the file streamed (the upload is refused)'),
      404: r.problemAnswer('unknown, or no longer readable by the caller, even while the file streamed'),
      415: r.contentTypeMismatchAnswer('not multipart'),
      507: r.overQuotaAnswer,
    },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    const simple = { config: deps.config, s3: deps.s3, uploads: deps.uploads, countBytes: deps.metrics.countUploaded };
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      const actor = actorOf(res);
      const { wait, waitMs } = uploadWaitOf(req, deps.config);
      const asset = await assetFor(deps.assetCache, actor, id, 'write');
      // If-Match: compared with the asset's ETag as the session is inserted, under the asset's row lock.
      const receive = () => receiveSimpleUpload(req, actor, { ...simple, recordUpload: uploadRecorderOf(res), ifMatch: ifMatchOf(req), waitMs }, asset);
      // A grant revoked while the file streamed: the commit refuses it.
      const outcome = await newOrResumedUpload(res, deps.uploads, waitMs, () => sessions.answeringRevocation(actor, id, receive));
      await answerNewVersion(deps, res, outcome, wait);
    };
  },
);

const read = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id/versions/:version_id',
    access: 'caller',
    tag: 'versions',
    summary: 'One version',
    params: versionParams,
    responses: { 200: { description: 'the version', schema: r.version } },
  },
  (deps) => async (req, res) => {
    const { id, version_id: versionId } = parse(versionParams, req.params, 'path');
    await assetFor(deps.assetCache, actorOf(res), id, 'read');
    res.json(toVersionJson(await getVersion(deps.db, id, versionId)));
  },
);

const content = defineRoute(
  {
    method: 'get',
    path: '/api/v2/assets/:id/versions/:version_id/content',
    access: 'caller',
    tag: 'versions',
    summary: "A version's bytes, streamed or straight from the store",
    params: versionParams,
    query: redirectQuery,
    headers: r.contentRequestHeaders,
    responses: r.contentAnswers,
  },
  (deps) =>
    contentHandler(deps, async (req, res) => {
      const { id, version_id: versionId } = parse(versionParams, req.params, 'path');
      const { asset, content: current } = await assetWithContentFor(deps.assetCache, actorOf(res), id, 'read');
      const version = current?.id === versionId ? current : await getVersion(deps.db, id, versionId);
      return storedContentOf(asset, version);
    }),
);

/** Copies an earlier version's bytes (server-side) into a new current version, through uploadWorkflow. */
const restore = defineRoute(
  {
    method: 'post',
    path: '/api/v2/assets/:id/versions/:version_id/restore',
    access: 'caller',
    tag: 'versions',
    summary: "Copy a version into a new current version (optional If-Match: the asset's ETag)",
    params: versionParams,
    preconditions: 'existing',
    headers: PREFER_HEADER,
    responses: {
      201: {
        description: 'the new version',
        schema: r.version,
        links: versionLinks,
        headers: { ...r.locationHeader('the version'), ...PREFERENCE_APPLIED_HEADER },
      },
      202: r.uploadAcceptedAnswer,
      409: r.problemAnswer('the version is damaged (a scrub found its bytes wrong and no backup held them): nothing is copied; or the copy conflicted', [
        'version-damaged',
        'conflict',
      ]),
      507: r.overQuotaAnswer,
    },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const { id, version_id: versionId } = parse(versionParams, req.params, 'path');
      const { wait, waitMs } = uploadWaitOf(req, deps.config);
      const actor = actorOf(res);
      const asset = await assetFor(deps.assetCache, actor, id, 'own');
      const source = await getVersion(deps.db, id, versionId);
      // Its bytes are known wrong: the copy's hash would fail only after an upload was opened for it.
      await refuseDamaged(deps.db, source.object_key);
      const ifMatch = ifMatchOf(req);
      const made = newUploadInput(
        deps.config,
        {
          kind: 'copy',
          name: asset.name,
          contentType: source.content_type,
          sizeBytes: source.size_bytes,
          checksumSha256: source.checksum_sha256,
          copyFromKey: source.object_key,
        },
        versionTargetOf(actor, asset),
        actor.sub,
      );
      // If-Match: compared with the asset's ETag as the session is inserted, under the asset's row lock.
      const input = ifMatch === undefined ? made : { ...made, ifMatch };
      const copy = async () => {
        await uploadRecorderOf(res)?.(input.uploadId);
        await sessions.answeringRevocation(actor, id, () => openUploadSession(deps.uploads, actor, input));
        return { ...(await completeUploadSession(deps.uploads, input.uploadId, {}, waitMs)), uploadId: input.uploadId };
      };
      await answerNewVersion(deps, res, await newOrResumedUpload(res, deps.uploads, waitMs, copy), wait);
    };
  },
);

export const VERSION_ROUTES = [list, upload, read, content, restore];
