import { Router } from 'express';
import { committedVersion, findVersion, getVersion, listVersions, toVersionJson } from '../../lib/assets/versions';
import { versionTargetOf } from '../../lib/assets/permissions';
import { NotFoundError } from '../../lib/platform/errors';
import { completeUploadSession, openUploadSession, type CompleteOutcome } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { sendUploadAccepted } from '../http/accepted';
import { assetFor, assetWithContentFor } from '../access/assetLookup';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { contentRedirectsOf, redirectToStore } from '../http/contentRedirect';
import { contentSourceOf, sendContent, storedContentOf } from '../http/download';
import { idParams, pageQuery, parse, versionParams } from '../schemas/common';
import { sessionAccessOf } from '../access/sessionAccess';
import { receiveSimpleUpload } from '../uploads/simpleUpload';
import { z } from 'zod';

const listVersionsQuery = z.object(pageQuery).strict();

export function versionsRouter(deps: Pick<AppDeps, 'config' | 'db' | 's3' | 'logger' | 'metrics' | 'uploads' | 'assetCache' | 'contentCache'>): Router {
  const router = Router();
  const { uploads, assetCache } = deps;
  const contents = contentSourceOf(deps);
  const redirects = contentRedirectsOf(deps);
  const waitMs = deps.config.uploads.waitSeconds * 1000;
  const sessions = sessionAccessOf(deps);

  async function answerNewVersion(res: import('express').Response, outcome: CompleteOutcome & { uploadId: string }) {
    if (!outcome.done) {
      sendUploadAccepted(res, outcome.uploadId);
      return;
    }
    const { assetId, versionId } = outcome.result;
    await assetCache.invalidate([assetId]);
    // With many uploads at once, newer ones may already have pruned this version past
    // STORAGE_MAX_VERSIONS: it was made all the same, and the answer says what was made.
    const row = await findVersion(deps.db, assetId, versionId);
    const version = row ? toVersionJson(row) : await committedVersion(deps.db, assetId, versionId, outcome.uploadId);
    if (!version) throw new NotFoundError(`version ${versionId} of asset ${assetId} not found`);
    res.status(201).setHeader('Location', `/api/v2/assets/${assetId}/versions/${versionId}`).json(version);
  }

  router.get('/api/v2/assets/:id/versions', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await assetFor(assetCache, actorOf(res), id, 'read');
    res.json(await listVersions(deps.db, id, parse(listVersionsQuery, req.query, 'query')));
  });

  router.post('/api/v2/assets/:id/versions', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const actor = actorOf(res);
    const asset = await assetFor(assetCache, actor, id, 'write');
    const simple = { config: deps.config, s3: deps.s3, uploads, countBytes: deps.metrics.countUploaded };
    // A grant revoked while the file streamed: the commit refuses it.
    await answerNewVersion(res, await sessions.answeringRevocation(actor, id, () => receiveSimpleUpload(req, actor, simple, asset)));
  });

  router.get('/api/v2/assets/:id/versions/:versionId', async (req, res) => {
    const { id, versionId } = parse(versionParams, req.params, 'path');
    await assetFor(assetCache, actorOf(res), id, 'read');
    res.json(toVersionJson(await getVersion(deps.db, id, versionId)));
  });

  router.get('/api/v2/assets/:id/versions/:versionId/content', async (req, res) => {
    const { id, versionId } = parse(versionParams, req.params, 'path');
    const { asset, content } = await assetWithContentFor(assetCache, actorOf(res), id, 'read');
    const version = content?.id === versionId ? content : await getVersion(deps.db, id, versionId);
    const stored = storedContentOf(asset, version);
    if (await redirectToStore(req, res, redirects, stored)) return;
    await sendContent(req, res, contents, stored);
  });

  /** Copies an earlier version's bytes (server-side) into a new current version, through uploadWorkflow. */
  router.post('/api/v2/assets/:id/versions/:versionId/restore', async (req, res) => {
    const { id, versionId } = parse(versionParams, req.params, 'path');
    const actor = actorOf(res);
    const asset = await assetFor(assetCache, actor, id, 'own');
    const source = await getVersion(deps.db, id, versionId);
    const input = newUploadInput(
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
    await sessions.answeringRevocation(actor, id, () => openUploadSession(uploads, actor, input));
    await answerNewVersion(res, { ...(await completeUploadSession(uploads, input.uploadId, {}, waitMs)), uploadId: input.uploadId });
  });

  return router;
}
