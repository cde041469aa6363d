/**
 * tus 1.0.0 at /api/v2/tus (core, creation, creation-with-upload, termination, expiration, checksum).
 *
 * A handler of our own rather than @tus/server: a tus upload here is an uploadWorkflow run like any
 * other upload, whose session row, expiry, termination and finish (assemble, verify, commit, prune,
 * events) the workflow already does. @tus/server would keep a second copy of that state (its .info
 * objects with @tus/s3-store, its own expiry and termination), split PATCHes into .part objects of
 * its own, and answer through its own error and auth path beside Express's. What the protocol adds
 * is small: each PATCH is stored as the next part of the run's multipart upload (api/uploads/tusAppend.ts),
 * so any replica serves the next request and a killed one loses nothing but the PATCH it was taking.
 * Tus-Resumable and the capabilities are put on by api/middleware/tusProtocol.ts.
 */
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { ownerOfNewAsset, versionTargetOf } from '../../lib/assets/permissions';
import type { Actor } from '../../lib/auth/actor';
import {
  ChecksumMismatchError,
  NotFoundError,
  PayloadTooLargeError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  UnsupportedTusVersionError,
  ValidationError,
} from '../../lib/platform/errors';
import { findTusUpload, insertTusUpload, type TusUploadRow } from '../../lib/uploads/store';
import { abortUploadSession, completeUploadSession, openUploadSession } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { getUploadSession } from '../../lib/uploads/sessions';
import { sessionDeadline } from '../../lib/uploads/progress';
import { deleteAbortedSession } from '../../lib/uploads/store';
import { assetFor } from '../access/assetLookup';
import { sessionAccessOf } from '../access/sessionAccess';
import { defineRoute, type RouteDeps } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { idParams, parse } from '../schemas/common';
import { contentTypeMismatchAnswer, problemAnswer } from '../schemas/responses';
import { OFFSET_OCTET_STREAM, TUS_PATH, TUS_VERSION, creationHeaders, parseUploadMetadata, patchHeaders, tusHeaders, tusStatusAnswer } from '../schemas/tus';
import { appendBody, checkBodyLength, notOpen, type TusStore } from '../uploads/tusAppend';

function checkTusResumable(req: Request): void {
  const version = req.get('tus-resumable');
  if (version !== TUS_VERSION) throw new UnsupportedTusVersionError(`send Tus-Resumable: ${TUS_VERSION}${version ? `, not ${version}` : ''}`);
}

function sendOffset(res: Response, status: number, session: UploadSessionRow, offset: number, uploads: RouteDeps['config']['uploads']): void {
  res.setHeader('Upload-Offset', String(offset));
  setUploadExpires(res, session, uploads);
  res.status(status).end();
}

/** tus `Upload-Expires`: an open upload's sliding deadline (lib/uploads/progress.ts sessionDeadline), else its expiry. */
function setUploadExpires(res: Response, session: UploadSessionRow, uploads: RouteDeps['config']['uploads']): void {
  const expires = session.status === 'open' ? sessionDeadline(session, uploads) : session.expires_at;
  res.setHeader('Upload-Expires', expires.toUTCString());
}

/** What the tus handlers share, built once per handler from the app's parts. */
function tusUploadsOf(deps: RouteDeps) {
  const { db, uploads } = deps;
  const waitMs = deps.config.uploads.waitSeconds * 1000;
  const sessions = sessionAccessOf(deps);
  const store: TusStore = {
    db,
    s3: deps.s3,
    bucket: deps.config.s3.bucket,
    countBytes: deps.metrics.countUploaded,
    stallSeconds: deps.config.uploads.stallSeconds,
  };
  return {
    store,
    sessions,
    waitMs,
    /**
     * The caller's tus upload: another user's, or another kind of session, does not exist for them; one
     * whose asset they may no longer write is refused, and ends (api/access/sessionAccess.ts).
     */
    async uploadFor(res: Response, id: string, writes = false): Promise<{ session: UploadSessionRow; tus: TusUploadRow }> {
      const session = await sessions.sessionFor(actorOf(res), id, writes);
      const tus = session.kind === 'tus' ? await findTusUpload(db, id) : undefined;
      if (!tus) throw new NotFoundError(`upload ${id} not found`);
      return { session, tus };
    },
    /**
     * The last byte starts the finish: the workflow assembles, verifies, commits. The answer waits
     * for it (up to STORAGE_UPLOAD_WAIT_SECONDS), so a whole file that does not match its declared
     * checksum_sha256 is a 460 on the last PATCH; past the wait the status is at /api/v2/uploads/{id}.
     */
    async finish(actor: Actor, session: UploadSessionRow): Promise<void> {
      try {
        const outcome = await sessions.answeringRevocation(actor, session.asset_id, () => completeUploadSession(uploads, session.id, {}, waitMs));
        if (outcome.done) await deps.assetCache.invalidate([outcome.result.assetId]);
      } catch (err) {
        if (err instanceof UnprocessableError) throw new ChecksumMismatchError(`${err.message}; the upload is deleted`);
        throw err;
      }
    },
    /** Ends an upload whose creation was refused, and removes its rows once its bytes are gone (or leaves them to its expiry). */
    async discardCreated(id: string): Promise<void> {
      try {
        await abortUploadSession(uploads, id, waitMs);
        await deleteAbortedSession(db, id);
      } catch {
        // The run ends it at its expiry all the same.
      }
    },
  };
}

const refusals = {
  412: { ...problemAnswer('Tus-Resumable is missing or not 1.0.0', ['tus-version-unsupported']), headers: tusHeaders(['Tus-Version']) },
  413: problemAnswer('past Upload-Length, or over Tus-Max-Size'),
  460: problemAnswer('the body does not match Upload-Checksum, or the whole file its checksum_sha256'),
};

const options = defineRoute(
  {
    method: 'options',
    path: TUS_PATH,
    access: 'anyone',
    tag: 'uploads',
    summary: "tus: the server's capabilities",
    responses: {
      204: {
        description: 'the capabilities',
        headers: tusHeaders(['Tus-Resumable', 'Tus-Version', 'Tus-Max-Size', 'Tus-Extension', 'Tus-Checksum-Algorithm', 'Allow']),
      },
    },
  },
  // Allow (api/middleware/methodNotAllowed.ts) and the capabilities (api/middleware/tusProtocol.ts) are on the answer already.
  () => (_req, res) => {
    res.status(204).end();
  },
);

/** The upload a creation asks for, for `actor` or as a new version of the asset its metadata names. */
async function creationInput(deps: RouteDeps, actor: Actor, length: number, meta: ReturnType<typeof parseUploadMetadata>) {
  const existing = meta.asset_id ? versionTargetOf(actor, await assetFor(deps.assetCache, actor, meta.asset_id, 'write')) : undefined;
  const input = newUploadInput(
    deps.config,
    {
      kind: 'tus',
      name: meta.filename,
      contentType: meta.filetype ?? 'application/octet-stream',
      metadata: meta.metadata,
      tags: meta.tags,
      sizeBytes: length,
      checksumSha256: meta.checksum_sha256,
    },
    existing,
    existing ? actor.sub : ownerOfNewAsset(actor, undefined),
  );
  return { input, existing };
}

const create = defineRoute(
  {
    method: 'post',
    path: TUS_PATH,
    access: 'caller',
    // tus's own protocol makes its requests safe to repeat: a creation is found by its Location, a PATCH by its offset.
    idempotencyKey: false,
    tag: 'uploads',
    summary: 'tus: create an upload (creation), optionally with its first bytes (creation-with-upload)',
    preconditions: { none: 'tus: a creation is found again by its Location, and tus takes no If-Match' },
    headers: tusHeaders(['Tus-Resumable', 'Upload-Length'], ['Upload-Metadata', 'Upload-Checksum']),
    body: { schema: z.string().meta({ format: 'binary' }), content: OFFSET_OCTET_STREAM, optional: true },
    responses: {
      201: { description: 'created: Location is the upload', headers: tusHeaders(['Location', 'Tus-Resumable', 'Upload-Offset', 'Upload-Expires']) },
      404: problemAnswer('asset_id (Upload-Metadata) names no asset the caller may read'),
      415: contentTypeMismatchAnswer(),
      ...refusals,
    },
  },
  (deps) => {
    const tus = tusUploadsOf(deps);
    return async (req, res) => {
      checkTusResumable(req);
      if (req.get('upload-defer-length') !== undefined) throw new ValidationError('Upload-Defer-Length is not served: send Upload-Length');
      if (req.get('upload-concat') !== undefined) throw new ValidationError('Upload-Concat (concatenation) is not served');
      const headers = parse(creationHeaders, req.headers, 'headers');
      const length = headers['upload-length'];
      if (length > deps.config.uploads.maxSizeBytes) {
        throw new PayloadTooLargeError(`Upload-Length ${length} is over the limit of ${deps.config.uploads.maxSizeBytes} bytes (Tus-Max-Size)`);
      }
      const meta = parseUploadMetadata(headers['upload-metadata']);
      const withBody = req.is(OFFSET_OCTET_STREAM) === OFFSET_OCTET_STREAM;
      const bodyLength = withBody ? parse(patchHeaders.pick({ 'content-length': true, 'upload-checksum': true }), req.headers, 'headers') : undefined;
      // First bytes that could not be stored are refused before anything is opened.
      if (bodyLength) checkBodyLength(0, bodyLength['content-length'], length);
      const actor = actorOf(res);
      const { input, existing } = await creationInput(deps, actor, length, meta);
      await tus.sessions.answeringRevocation(actor, existing?.id ?? null, () => openUploadSession(deps.uploads, actor, input));
      await insertTusUpload(deps.db, input.uploadId, headers['upload-metadata']);
      const id = input.uploadId;
      res.setHeader('Location', `${TUS_PATH}/${id}`);
      let offset = 0;
      // creation-with-upload; an empty upload is complete as soon as it is created.
      if (bodyLength || length === 0) {
        const first = { offset: 0, length: bodyLength?.['content-length'] ?? 0, checksum: bodyLength?.['upload-checksum'] };
        const appended = await appendBody(tus.store, req, id, first).catch(async (err: unknown) => {
          // First bytes refused as they came (a checksum, a budget, the client gone): the client was
          // given no upload, so none is left, nor its row.
          await tus.discardCreated(id);
          throw err;
        });
        offset = appended.offset;
        if (appended.finishes) await tus.finish(actor, await getUploadSession(deps.db, id));
      }
      sendOffset(res, 201, await getUploadSession(deps.db, id), offset, deps.config.uploads);
    };
  },
);

/** HEAD is the tus status; GET, the same headers with them as JSON. */
function status(deps: RouteDeps): RequestHandler {
  const tus = tusUploadsOf(deps);
  return async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    if (req.method === 'HEAD') checkTusResumable(req);
    const { session, tus: row } = await tus.uploadFor(res, id);
    if (session.status !== 'open' && session.status !== 'completing' && session.status !== 'completed') throw notOpen(session);
    // The last PATCH was stored but its finish never started (its API process died in between).
    if (session.status === 'open' && row.offset_bytes === session.size_bytes && row.part_count > 0) await tus.finish(actorOf(res), session);
    const offset = session.status === 'open' ? row.offset_bytes : session.size_bytes;
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Upload-Offset', String(offset));
    res.setHeader('Upload-Length', String(session.size_bytes));
    if (row.upload_metadata) res.setHeader('Upload-Metadata', row.upload_metadata);
    setUploadExpires(res, session, deps.config.uploads);
    res.json({ upload_id: id, status: session.status, offset_bytes: offset, size_bytes: session.size_bytes, status_url: `/api/v2/uploads/${id}` });
  };
}

const offsetHeaders = tusHeaders(['Tus-Resumable', 'Cache-Control', 'Upload-Offset', 'Upload-Length', 'Upload-Expires'], ['Upload-Metadata']);
const gone = { 410: problemAnswer('terminated, expired or failed: its bytes are gone') };

const head = defineRoute(
  {
    method: 'head',
    path: `${TUS_PATH}/:id`,
    access: 'caller',
    tag: 'uploads',
    summary: "tus: the upload's offset (finishing it if its last PATCH was stored but not finished)",
    params: idParams,
    headers: tusHeaders(['Tus-Resumable']),
    responses: { 200: { description: 'Upload-Offset, Upload-Length', headers: offsetHeaders }, ...gone, 412: refusals[412], 415: contentTypeMismatchAnswer() },
  },
  status,
);

const read = defineRoute(
  {
    method: 'get',
    path: `${TUS_PATH}/:id`,
    access: 'caller',
    tag: 'uploads',
    summary: "HEAD's headers, with them as JSON",
    params: idParams,
    responses: { 200: { description: 'the offset', schema: tusStatusAnswer, headers: offsetHeaders }, ...gone, 415: contentTypeMismatchAnswer() },
  },
  status,
);

const patch = defineRoute(
  {
    method: 'patch',
    path: `${TUS_PATH}/:id`,
    access: 'caller',
    idempotencyKey: false,
    tag: 'uploads',
    summary: 'tus: append bytes at Upload-Offset (checksum: Upload-Checksum sha256); the last byte finishes the upload',
    preconditions: { none: 'tus: Upload-Offset is its precondition (409 on a mismatch); tus takes no If-Match' },
    params: idParams,
    headers: tusHeaders(['Tus-Resumable', 'Upload-Offset'], ['Upload-Checksum', 'Upload-Length']),
    body: { schema: z.string().meta({ format: 'binary' }), content: OFFSET_OCTET_STREAM },
    responses: {
      204: { description: 'stored: Upload-Offset is the new offset', headers: tusHeaders(['Tus-Resumable', 'Upload-Offset', 'Upload-Expires']) },
      409: problemAnswer('Upload-Offset is not the offset, or the upload has all its bytes'),
      ...gone,
      415: contentTypeMismatchAnswer(`the body is not ${OFFSET_OCTET_STREAM}`),
      423: problemAnswer('the upload lost its lock while the body streamed: send HEAD, then try again'),
      ...refusals,
    },
  },
  (deps) => {
    const tus = tusUploadsOf(deps);
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      checkTusResumable(req);
      if (req.is(OFFSET_OCTET_STREAM) !== OFFSET_OCTET_STREAM) throw new UnsupportedMediaTypeError(`a PATCH body is ${OFFSET_OCTET_STREAM}`);
      const headers = parse(patchHeaders, req.headers, 'headers');
      const { session } = await tus.uploadFor(res, id, true);
      // Before the lock: a PATCH still unwinding on a terminated upload must not make this one wait.
      if (session.status !== 'open') throw notOpen(session);
      // The length is fixed at creation (no Upload-Defer-Length): a client that believes another would end the upload elsewhere.
      const length = req.get('upload-length');
      if (length !== undefined && length !== String(session.size_bytes)) {
        throw new ValidationError(`Upload-Length is ${session.size_bytes}, set when the upload was created; this PATCH says ${length}`, [
          { path: 'upload-length', message: `must be ${session.size_bytes}, or left out` },
        ]);
      }
      const body = { offset: headers['upload-offset'], length: headers['content-length'], checksum: headers['upload-checksum'] };
      const appended = await appendBody(tus.store, req, id, body).catch(async (err: unknown): Promise<never> => {
        // Refused while it streamed: a session its access no longer lets write is answered as such, whatever the store said.
        await tus.sessions.sessionFor(actorOf(res), id, true);
        throw err;
      });
      if (appended.finishes) await tus.finish(actorOf(res), session);
      // Read again: the PATCH moved its deadline on (or finished it).
      sendOffset(res, 204, await getUploadSession(deps.db, id), appended.offset, deps.config.uploads);
    };
  },
);

const terminate = defineRoute(
  {
    method: 'delete',
    path: `${TUS_PATH}/:id`,
    access: 'caller',
    idempotencyKey: false,
    tag: 'uploads',
    summary: 'tus: terminate the upload (termination): its bytes are gone',
    preconditions: { none: 'tus: a termination is final and repeatable, and tus takes no If-Match' },
    params: idParams,
    headers: tusHeaders(['Tus-Resumable']),
    responses: { 204: { description: 'terminated', headers: tusHeaders(['Tus-Resumable']) }, ...gone, 412: refusals[412] },
  },
  (deps) => {
    const tus = tusUploadsOf(deps);
    return async (req, res) => {
      const { id } = parse(idParams, req.params, 'path');
      checkTusResumable(req);
      const { session } = await tus.uploadFor(res, id);
      if (session.status === 'aborted') throw notOpen(session);
      await abortUploadSession(deps.uploads, id, tus.waitMs);
      res.status(204).end();
    };
  },
);

// GET before HEAD, as Allow lists them on every path (api/http/route.ts registers HEAD first all the same).
export const TUS_ROUTES = [options, create, read, head, patch, terminate];
