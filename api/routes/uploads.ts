import { Router } from 'express';
import { sendUploadAccepted } from '../http/accepted';
import { jsonBody } from '../http/jsonBody';
import { getAsset, toAssetJson } from '../../lib/assets/assets';
import { ownerOfNewAsset, versionTargetOf } from '../../lib/assets/permissions';
import { getUploadSession, toUploadSessionJson } from '../../lib/uploads/sessions';
import { getVersion, toVersionJson } from '../../lib/assets/versions';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../../lib/platform/errors';
import { latestParts, listStoredParts } from '../../lib/platform/multipart';
import { abortUploadSession, completeUploadSession, openUploadSession, readUploadSession } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { sessionStillWrites } from '../../lib/uploads/sessionAccess';
import { findTusUpload } from '../../lib/tus/uploads';
import { streamedWhole } from '../../lib/uploads/chunkedHashStates';
import { assetFor } from '../access/assetLookup';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { checkPartRequest, presignPart, streamPart } from '../uploads/parts';
import { contentBudgetOf } from '../middleware/rateLimits';
import { sessionAccessOf } from '../access/sessionAccess';
import { idParams, parse } from '../schemas/common';
import { MAX_PARTS, createUploadBody, partHeaders, partParams } from '../schemas/uploads';

function noSuchUpload(err: unknown): [] {
  if ((err as { name?: string }).name === 'NoSuchUpload') return [];
  throw err;
}

export function uploadsRouter(deps: Pick<AppDeps, 'config' | 'db' | 's3' | 'metrics' | 'uploads' | 'assetCache'>): Router {
  const router = Router();
  const { uploads } = deps;
  const bucket = deps.config.s3.bucket;
  const waitMs = deps.config.uploads.waitSeconds * 1000;
  const sessions = sessionAccessOf(deps);

  async function sessionJson(id: string) {
    const { row, state } = await readUploadSession(uploads, id);
    const live = state?.status === 'open' || state?.status === 'completing' || (!state && row.status === 'open');
    // A multipart upload completed or aborted since the row was read has no parts; a store that cannot be reached is a 503.
    const stored = live && row.s3_upload_id ? await listStoredParts(deps.s3, bucket, row.object_key, row.s3_upload_id).catch(noSuchUpload) : [];
    let parts = latestParts(stored);
    // A tus upload's parts are those its PATCHes recorded: a part sent beyond them was refused.
    if (row.kind === 'tus') {
      const recorded = (await findTusUpload(deps.db, id))?.part_count ?? 0;
      parts = parts.filter((p) => p.partNumber <= recorded);
    }
    return toUploadSessionJson(row, { status: state?.status, error: state?.error, parts });
  }

  router.post('/api/v2/uploads', jsonBody, async (req, res) => {
    const body = parse(createUploadBody, req.body ?? {}, 'body');
    if (body.size_bytes > deps.config.uploads.maxSizeBytes) {
      throw new PayloadTooLargeError(`size_bytes ${body.size_bytes} is over the limit of ${deps.config.uploads.maxSizeBytes} bytes`);
    }
    const partCount = Math.max(1, Math.ceil(body.size_bytes / body.part_size_bytes));
    if (partCount > MAX_PARTS) {
      throw new ValidationError(`${partCount} parts is more than ${MAX_PARTS}: choose a larger part_size_bytes`, [
        { path: 'part_size_bytes', message: `must be at least ${Math.ceil(body.size_bytes / MAX_PARTS)}` },
      ]);
    }
    const actor = actorOf(res);
    if (body.asset_id && body.owner_id !== undefined) {
      throw new ValidationError('a new version belongs to its asset: owner_id is for new assets', [{ path: 'owner_id', message: 'not allowed with asset_id' }]);
    }
    const existing = body.asset_id ? versionTargetOf(actor, await assetFor(deps.assetCache, actor, body.asset_id, 'write')) : undefined;
    const input = newUploadInput(
      deps.config,
      {
        kind: 'chunked',
        name: body.name,
        contentType: body.content_type ?? 'application/octet-stream',
        metadata: body.metadata,
        tags: body.tags,
        sizeBytes: body.size_bytes,
        checksumSha256: body.checksum_sha256,
        partSizeBytes: body.part_size_bytes,
        partCount,
      },
      existing,
      existing ? actor.sub : ownerOfNewAsset(actor, body.owner_id),
    );
    // A grant revoked since the check above: the insert of the session refuses it.
    const opened = await sessions.answeringRevocation(actor, existing?.id ?? null, () => openUploadSession(uploads, actor, input));
    // Just opened: the workflow's answer is the live status, and no part can be stored yet.
    const row = await getUploadSession(deps.db, input.uploadId);
    res
      .status(201)
      .setHeader('Location', `/api/v2/uploads/${input.uploadId}`)
      .json(toUploadSessionJson(row, { status: opened.status, error: opened.error, parts: [] }));
  });

  router.get('/api/v2/uploads/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await sessions.sessionFor(actorOf(res), id);
    res.json(await sessionJson(id));
  });

  router.put('/api/v2/uploads/:id/parts/:n', async (req, res) => {
    const { id, n } = parse(partParams, req.params, 'path');
    const headers = parse(partHeaders, req.headers, 'headers');
    const actor = actorOf(res);
    const session = await sessions.sessionFor(actor, id, true);
    const size = checkPartRequest(session, n, headers['content-length']);
    let stored: Awaited<ReturnType<typeof streamPart>>;
    try {
      stored = await streamPart(
        req,
        { s3: deps.s3, db: deps.db, bucket },
        session,
        { n, sizeBytes: size, declaredSha256: headers['x-checksum-sha256'] },
        deps.metrics.countUploaded,
      );
      // Ended while the body streamed (a grant change, an abort): the part is not acknowledged.
      if (!(await deps.db.transaction((trx) => sessionStillWrites(trx, id)))) throw new ConflictError(`upload ${id} has ended: it takes no more parts`);
    } catch (err) {
      // One ended by its lost access is answered as the asset's routes answer, whatever the store said.
      await sessions.sessionFor(actor, id, true);
      throw err;
    }
    res.json(stored);
  });

  router.post('/api/v2/uploads/:id/parts/:n/url', async (req, res) => {
    const { id, n } = parse(partParams, req.params, 'path');
    const session = await sessions.sessionFor(actorOf(res), id, true);
    const size = checkPartRequest(session, n);
    // The part's bytes go straight to the store, where no meter sees them: they are spent here, as a part PUT here spends them.
    await contentBudgetOf(res)?.take(size);
    res.json(await presignPart(deps.s3, bucket, session, n, size));
  });

  router.post('/api/v2/uploads/:id/complete', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const actor = actorOf(res);
    const session = await sessions.sessionFor(actor, id, true);
    if (session.kind !== 'chunked') throw new ValidationError(`upload ${id} is not a chunked upload`);
    // Parts that all came in order were hashed on the way: the finish then confirms them without a read-back.
    const streamed = session.status === 'open' ? await streamedWhole(deps.db, session) : undefined;
    const outcome = await sessions.answeringRevocation(actor, session.asset_id, () => completeUploadSession(uploads, id, { ...streamed }, waitMs));
    if (!outcome.done) {
      sendUploadAccepted(res, id);
      return;
    }
    await deps.assetCache.invalidate([outcome.result.assetId]);
    const [asset, version] = await Promise.all([
      getAsset(deps.db, outcome.result.assetId, { includeDeleted: true }),
      getVersion(deps.db, outcome.result.assetId, outcome.result.versionId),
    ]);
    res.json({ upload: await sessionJson(id), asset: toAssetJson(asset, actor), version: toVersionJson(version) });
  });

  router.delete('/api/v2/uploads/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await sessions.sessionFor(actorOf(res), id);
    await abortUploadSession(uploads, id, waitMs);
    res.status(204).end();
  });

  return router;
}
