/** Chunked upload sessions: open, status, parts (sent here or to a presigned URL), complete, abort. */
import { z } from 'zod';
import { getAsset, toAssetJson } from '../../lib/assets/assets';
import { ownerOfNewAsset, versionTargetOf } from '../../lib/assets/permissions';
import { getUploadSession, listUploadSessions, toUploadSessionJson } from '../../lib/uploads/sessions';
import { getVersion, toVersionJson } from '../../lib/assets/versions';
import { ConflictError, PayloadTooLargeError, ValidationError } from '../../lib/platform/errors';
import { latestParts, listStoredParts } from '../../lib/platform/multipart';
import { abortUploadSession, completeUploadSession, openUploadSession, readUploadSession } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { sessionStillWrites } from '../../lib/uploads/sessionAccess';
import { expectProgressUntil, findTusUpload } from '../../lib/uploads/store';
import { streamedWhole } from '../../lib/uploads/chunkedHashStates';
import { assetFor } from '../access/assetLookup';
import { sessionAccessOf } from '../access/sessionAccess';
import { answerCommitted, sendUploadAccepted, uploadWaitOf } from '../http/accepted';
import { listQueryOf, pageAnswer } from '../http/lists';
import { applyPreference } from '../http/operations';
import { ifMatchFor, refuseIfMatchOnCreate } from '../http/preconditions';
import { defineRoute, type RouteDeps } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { contentBudgetOf } from '../middleware/rateLimits';
import { idParams, parse } from '../schemas/common';
import { PREFERENCE_APPLIED_HEADER, PREFER_HEADER } from '../schemas/operations';
import * as r from '../schemas/responses';
import { MAX_PARTS, createUploadBody, documentedCreateUploadBody, listUploadsQuery, partHeaders, partParams } from '../schemas/uploads';
import { checkPartRequest, presignPart, streamPart } from '../uploads/parts';
import { countingProgress, sessionDeadline } from '../../lib/uploads/progress';

// Every request on a session checks that its caller may still write its asset (api/access/sessionAccess.ts).
// Why the session's own changes take no If-Match (api/http/route.ts Preconditions).
const SESSION = 'the session has no ETag of its own';

const sessionRefused = {
  403: r.problemAnswer('the caller may now only read the asset: the session is aborted'),
  404: r.problemAnswer("unknown, another user's, or its asset no longer readable by the caller (an open session is then aborted)"),
};

function noSuchUpload(err: unknown): [] {
  if ((err as { name?: string }).name === 'NoSuchUpload') return [];
  throw err;
}

/** A session's status, live from its workflow, with the parts its multipart upload holds. */
async function sessionJson(deps: Pick<RouteDeps, 'db' | 's3' | 'config' | 'uploads'>, id: string) {
  const { row, state } = await readUploadSession(deps.uploads, id);
  const live = state?.status === 'open' || state?.status === 'completing' || (!state && row.status === 'open');
  // A multipart upload completed or aborted since the row was read has no parts; a store that cannot be reached is a 503.
  const stored = live && row.s3_upload_id ? await listStoredParts(deps.s3, deps.config.s3.bucket, row.object_key, row.s3_upload_id).catch(noSuchUpload) : [];
  let parts = latestParts(stored);
  // A tus upload's parts are those its PATCHes recorded: a part sent beyond them was refused.
  if (row.kind === 'tus') {
    const recorded = (await findTusUpload(deps.db, id))?.part_count ?? 0;
    parts = parts.filter((p) => p.partNumber <= recorded);
  }
  const lastPartAt = Math.max(0, ...stored.map((p) => p.lastModified ?? 0));
  const deadline = sessionDeadline(row, deps.config.uploads, lastPartAt);
  return toUploadSessionJson(row, { status: state?.status, error: state?.error, parts, deadline });
}

/** The body of a new session, with the number of parts it makes: a size and a part size the store can take. */
function checkedCreateBody(body: z.infer<typeof createUploadBody>, maxSizeBytes: number): number {
  if (body.size_bytes > maxSizeBytes) {
    throw new PayloadTooLargeError(`size_bytes ${body.size_bytes} is over the limit of ${maxSizeBytes} bytes`);
  }
  const partCount = Math.max(1, Math.ceil(body.size_bytes / body.part_size_bytes));
  if (partCount > MAX_PARTS) {
    throw new ValidationError(`${partCount} parts is more than ${MAX_PARTS}: choose a larger part_size_bytes`, [
      { path: 'part_size_bytes', message: `must be at least ${Math.ceil(body.size_bytes / MAX_PARTS)}` },
    ]);
  }
  return partCount;
}

const open = defineRoute(
  {
    method: 'post',
    path: '/api/v2/uploads',
    access: 'caller',
    tag: 'uploads',
    summary: "Open a chunked upload session (with asset_id, optional If-Match: the asset's ETag)",
    body: { schema: (limits) => documentedCreateUploadBody(limits.maxUploadBytes) },
    preconditions: 'create-or-existing',
    responses: {
      201: {
        description: 'the session',
        schema: r.uploadSession,
        headers: r.locationHeader('the session'),
        links: [{ resource: '/api/v2/uploads/:id', parameters: { id: '$response.body#/id' } }],
      },
      404: r.problemAnswer('asset_id names no asset the caller may read'),
      413: r.problemAnswer('size over STORAGE_MAX_UPLOAD_SIZE'),
      507: r.overQuotaAnswer,
    },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const body = parse(createUploadBody, req.body ?? {}, 'body');
      const partCount = checkedCreateBody(body, deps.config.uploads.maxSizeBytes);
      const actor = actorOf(res);
      if (body.asset_id && body.owner_id !== undefined) {
        throw new ValidationError('a new version belongs to its asset: owner_id is for new assets', [
          { path: 'owner_id', message: 'not allowed with asset_id' },
        ]);
      }
      // A new version's If-Match is compared with its asset's ETag as the session is inserted; a new asset matches none.
      if (!body.asset_id) refuseIfMatchOnCreate(req, 'a session for a new asset');
      const ifMatch = body.asset_id ? ifMatchFor(req, deps.config.requireIfMatch) : undefined;
      const existing = body.asset_id ? versionTargetOf(actor, await assetFor(deps.assetCache, actor, body.asset_id, 'write')) : undefined;
      const made = newUploadInput(
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
      const input = ifMatch === undefined ? made : { ...made, ifMatch };
      // A grant revoked since the check above: the insert of the session refuses it.
      const opened = await sessions.answeringRevocation(actor, existing?.id ?? null, () => openUploadSession(deps.uploads, actor, input));
      // Just opened: the workflow's answer is the live status, and no part can be stored yet.
      const row = await getUploadSession(deps.db, input.uploadId);
      res
        .status(201)
        .setHeader('Location', `/api/v2/uploads/${input.uploadId}`)
        .json(toUploadSessionJson(row, { status: opened.status, error: opened.error, parts: [], deadline: sessionDeadline(row, deps.config.uploads) }));
    };
  },
);

const list = defineRoute(
  {
    method: 'get',
    path: '/api/v2/uploads',
    access: 'caller',
    tag: 'uploads',
    summary:
      "Upload sessions, newest first: the caller's own (a service or an admin: every owner's, or one owner's with owner_id); " +
      'each as its row records it: GET /api/v2/uploads/{id} reads the live status and the parts received',
    query: listUploadsQuery,
    responses: { 200: pageAnswer(r.uploadSession), 403: r.problemAnswer("another owner's sessions, asked by someone not a service or an admin") },
  },
  (deps) => async (req, res) => {
    res.json(await listUploadSessions(deps.db, deps.config.uploads, actorOf(res), listQueryOf(listUploadsQuery, req, res)));
  },
);

const status = defineRoute(
  {
    method: 'get',
    path: '/api/v2/uploads/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Session status, live from its workflow',
    params: idParams,
    responses: { 200: { description: 'the session', schema: r.uploadSession }, ...sessionRefused },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      await sessions.sessionFor(actorOf(res), id);
      res.json(await sessionJson(deps, id));
    };
  },
);

const part = defineRoute(
  {
    method: 'put',
    path: '/api/v2/uploads/:id/parts/:n',
    access: 'caller',
    tag: 'uploads',
    summary: 'Send (or re-send) part n; Content-Length required, X-Checksum-SHA256 optional',
    preconditions: { none: `a part is addressed by its number (sent again, it replaces itself) and ${SESSION}: complete checks the parts (409 missing_parts)` },
    params: partParams,
    // Empty is a part too: the only part of an empty upload.
    headers: {
      'X-Checksum-SHA256': {
        description: "the part's SHA-256, lowercase hex: a part that does not match is 422 and not kept",
        schema: { type: 'string', pattern: '^[0-9a-f]{64}$', examples: ['9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'] },
      },
    },
    body: { schema: z.string().meta({ format: 'binary' }), content: 'application/octet-stream', optional: true },
    responses: {
      200: { description: 'stored', schema: r.partStored },
      ...sessionRefused,
      409: r.problemAnswer('session not open'),
      422: r.problemAnswer('part checksum mismatch'),
    },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    const store = { s3: deps.s3, db: deps.db, bucket: deps.config.s3.bucket };
    return async (req, res) => {
      const { id, n } = parse(partParams, req.params, 'path');
      const headers = parse(partHeaders, req.headers, 'headers');
      const actor = actorOf(res);
      const session = await sessions.sessionFor(actor, id, true);
      const size = checkPartRequest(session, n, headers['content-length']);
      let stored: Awaited<ReturnType<typeof streamPart>>;
      try {
        const counting = countingProgress(store.db, session.id, deps.config.uploads.stallSeconds, deps.metrics.countUploaded);
        stored = await streamPart(req, store, session, { n, sizeBytes: size, declaredSha256: headers['x-checksum-sha256'] }, counting);
        // Ended while the body streamed (a grant change, an abort): the part is not acknowledged.
        if (!(await deps.db.transaction((trx) => sessionStillWrites(trx, id)))) throw new ConflictError(`upload ${id} has ended: it takes no more parts`);
      } catch (err) {
        // One ended by its lost access is answered as the asset's routes answer, whatever the store said.
        await sessions.sessionFor(actor, id, true);
        throw err;
      }
      res.json(stored);
    };
  },
);

const partUrl = defineRoute(
  {
    method: 'post',
    path: '/api/v2/uploads/:id/parts/:n/url',
    access: 'caller',
    tag: 'uploads',
    summary: 'A presigned S3 URL to PUT part n',
    preconditions: { none: `it changes nothing (the URL is signed, not stored), and ${SESSION}` },
    params: partParams,
    responses: { 200: { description: 'the URL', schema: r.presignedPart }, ...sessionRefused },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const { id, n } = parse(partParams, req.params, 'path');
      const session = await sessions.sessionFor(actorOf(res), id, true);
      const size = checkPartRequest(session, n);
      // The part's bytes go straight to the store, where no meter sees them: they are spent here, as a part PUT here spends them.
      await contentBudgetOf(res)?.take(size);
      const { expiresIn, ...presigned } = await presignPart(deps.s3, deps.config.s3.bucket, session, n, size);
      // Its PUT never passes the API: the session's run is not to end it as stalled while the URL may be in use.
      await expectProgressUntil(deps.db, id, expiresIn);
      res.json(presigned);
    };
  },
);

const complete = defineRoute(
  {
    method: 'post',
    path: '/api/v2/uploads/:id/complete',
    access: 'caller',
    tag: 'uploads',
    summary: 'Assemble, verify, commit',
    preconditions: {
      none: `a session completes once (a repeat answers its outcome) and ${SESSION}; a new version's If-Match, compared when the session opened, is compared again as its version is written (412 when the asset changed meanwhile)`,
    },
    params: idParams,
    headers: PREFER_HEADER,
    responses: {
      200: { description: 'done', schema: r.completedUpload, headers: PREFERENCE_APPLIED_HEADER },
      202: r.uploadAcceptedAnswer,
      ...sessionRefused,
      409: r.problemAnswer('parts missing (missing_parts) or session not open', ['missing-parts', 'conflict']),
      412: r.problemAnswer("a new version's If-Match (sent when the session opened) no longer holds: the asset changed since, and no version was made"),
      415: r.contentTypeMismatchAnswer(),
      422: r.problemAnswer('checksum mismatch'),
    },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      const actor = actorOf(res);
      const { wait, waitMs } = uploadWaitOf(req, deps.config);
      const session = await sessions.sessionFor(actor, id, true);
      if (session.kind !== 'chunked') throw new ValidationError(`upload ${id} is not a chunked upload`);
      // Parts that all came in order were hashed on the way: the finish then confirms them without a read-back.
      const streamed = session.status === 'open' ? await streamedWhole(deps.db, session) : undefined;
      const outcome = await sessions.answeringRevocation(actor, session.asset_id, () => completeUploadSession(deps.uploads, id, { ...streamed }, waitMs));
      if (!outcome.done || wait?.ms === 0) {
        sendUploadAccepted(res, id, wait);
        return;
      }
      applyPreference(res, wait);
      const { assetId, versionId } = outcome.result;
      await answerCommitted(res, id, async () => {
        await deps.assetCache.invalidate([assetId]);
        const [asset, version] = await Promise.all([getAsset(deps.db, assetId, { includeDeleted: true }), getVersion(deps.db, assetId, versionId)]);
        res.json({ upload: await sessionJson(deps, id), asset: toAssetJson(asset, actor), version: toVersionJson(version) });
      });
    };
  },
);

const abort = defineRoute(
  {
    method: 'delete',
    path: '/api/v2/uploads/:id',
    access: 'caller',
    tag: 'uploads',
    summary: 'Abort',
    preconditions: { none: `an abort is final and repeatable, and ${SESSION}` },
    params: idParams,
    responses: { 204: { description: 'aborted' }, ...sessionRefused },
  },
  (deps) => {
    const sessions = sessionAccessOf(deps);
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      await sessions.sessionFor(actorOf(res), id);
      await abortUploadSession(deps.uploads, id, deps.config.uploads.waitSeconds * 1000);
      res.status(204).end();
    };
  },
);

export const UPLOAD_ROUTES = [open, list, status, part, partUrl, complete, abort];
