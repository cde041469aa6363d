/**
 * tus 1.0.0 at /api/v2/tus (core, creation, creation-with-upload, termination, expiration, checksum).
 *
 * A handler of our own rather than @tus/server: a tus upload here is an uploadWorkflow run like any
 * other upload, whose session row, expiry, termination and finish (assemble, verify, commit, prune,
 * events) the workflow already does. @tus/server would keep a second copy of that state (its .info
 * objects with @tus/s3-store, its own expiry and termination), split PATCHes into .part objects of
 * its own, and answer through its own error and auth path beside Express's. What the protocol adds
 * is small: each PATCH is stored as the next part of the run's multipart upload, and the offset and
 * part count live in PostgreSQL (lib/tus/uploads.ts) under an advisory lock, so any replica serves
 * the next request and a killed one loses nothing but the PATCH it was taking. The whole file's
 * SHA-256 is hashed on the way, its state kept with the offset (lib/uploads/sha256Stream.ts): the finish
 * reads nothing back.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { ownerOfNewAsset, versionTargetOf } from '../../lib/assets/permissions';
import {
  ChecksumMismatchError,
  ConflictError,
  GoneError,
  LockedError,
  NotFoundError,
  PayloadTooLargeError,
  UnprocessableError,
  UnsupportedMediaTypeError,
  UnsupportedTusVersionError,
  ValidationError,
} from '../../lib/platform/errors';
import { createMeter } from '../../lib/platform/staging';
import { partHashTap, saveState, sha256From } from '../../lib/uploads/sha256Stream';
import { findTusUpload, insertTusUpload, recordPart, withUploadLock, type TusUploadRow } from '../../lib/tus/uploads';
import { abortUploadSession, completeUploadSession, openUploadSession } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { PartRefusedError, sendPartBody } from '../../lib/uploads/partBody';
import type { UploadSessionRow } from '../../lib/uploads/sessionRow';
import { getUploadSession } from '../../lib/uploads/sessions';
import { sessionStillWrites } from '../../lib/uploads/sessionAccess';
import { assetFor } from '../access/assetLookup';
import type { Actor } from '../../lib/auth/actor';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { sessionAccessOf } from '../access/sessionAccess';
import { idParams, parse } from '../schemas/common';
import { MAX_PART_SIZE, MIN_PART_SIZE } from '../schemas/uploads';
import { OFFSET_OCTET_STREAM, TUS_CHECKSUM_ALGORITHMS, TUS_EXTENSIONS, TUS_VERSION, creationHeaders, parseUploadMetadata, patchHeaders } from '../schemas/tus';

export const TUS_PATH = '/api/v2/tus';

/**
 * Tus-Resumable on every answer under /api/v2/tus, errors included, and the server's capabilities
 * on OPTIONS. Runs before the access layer: OPTIONS needs no token (api/methodNotAllowed.ts answers it).
 */
export function tusProtocol(config: Pick<AppDeps['config'], 'uploads'>): RequestHandler {
  return (req, res, next) => {
    if (req.path !== TUS_PATH && !req.path.startsWith(`${TUS_PATH}/`)) return next();
    res.setHeader('Tus-Resumable', TUS_VERSION);
    if (req.method === 'OPTIONS') {
      res.setHeader('Tus-Version', TUS_VERSION);
      res.setHeader('Tus-Max-Size', String(config.uploads.maxSizeBytes));
      res.setHeader('Tus-Extension', TUS_EXTENSIONS.join(','));
      res.setHeader('Tus-Checksum-Algorithm', TUS_CHECKSUM_ALGORITHMS.join(','));
    }
    next();
  };
}

function checkTusResumable(req: Request): void {
  const version = req.get('tus-resumable');
  if (version !== TUS_VERSION) throw new UnsupportedTusVersionError(`send Tus-Resumable: ${TUS_VERSION}${version ? `, not ${version}` : ''}`);
}

/** Why an upload that is not open takes no more bytes: tus clients stop on 410 and 460, and retry on 409. */
function notOpen(session: UploadSessionRow): Error {
  if (session.status === 'failed' && session.error?.startsWith('checksum mismatch')) {
    return new ChecksumMismatchError(`upload ${session.id} failed: ${session.error}; its bytes are gone`);
  }
  if (session.status === 'completing' || session.status === 'completed') return new ConflictError(`upload ${session.id} has all its bytes`);
  return new GoneError(`upload ${session.id} is ${session.status}${session.error ? ` (${session.error})` : ''}: its bytes are gone`);
}

/** Whether a body of `length` bytes at `offset` ends an upload of `size`; throws unless it may be stored as one part. */
function checkBodyLength(offset: number, length: number, size: number): boolean {
  const end = offset + length;
  if (end > size) throw new PayloadTooLargeError(`the body would end at ${end}, past Upload-Length ${size}`);
  const finishes = end === size;
  // Every part of a multipart upload but the last is at least 5 MiB.
  if (!finishes && length > 0 && length < MIN_PART_SIZE) {
    throw new ValidationError(`a PATCH that does not end the upload carries at least ${MIN_PART_SIZE} bytes (5 MiB); this one has ${length}`, [
      { path: 'content-length', message: `must be at least ${MIN_PART_SIZE}, or the rest of the upload` },
    ]);
  }
  if (length > MAX_PART_SIZE) throw new PayloadTooLargeError(`a PATCH carries at most ${MAX_PART_SIZE} bytes (5 GiB)`);
  return finishes;
}

export function tusRouter(deps: Pick<AppDeps, 'config' | 'db' | 's3' | 'metrics' | 'uploads' | 'assetCache'>): Router {
  const router = Router();
  const { db, s3, uploads } = deps;
  const bucket = deps.config.s3.bucket;
  const waitMs = deps.config.uploads.waitSeconds * 1000;
  const sessions = sessionAccessOf(deps);

  /**
   * The caller's tus upload: another user's, or another kind of session, does not exist for them; one
   * whose asset they may no longer write is refused, and ends (api/sessionAccess.ts).
   */
  async function tusUploadFor(res: Response, id: string, writes = false): Promise<{ session: UploadSessionRow; tus: TusUploadRow }> {
    const session = await sessions.sessionFor(actorOf(res), id, writes);
    const tus = session.kind === 'tus' ? await findTusUpload(db, id) : undefined;
    if (!tus) throw new NotFoundError(`upload ${id} not found`);
    return { session, tus };
  }

  /**
   * Stores the request's body as the upload's next part, holding its lock, and answers the new
   * offset. A body cut short stores nothing (S3 takes a part whole or not at all), so the offset is
   * always at the end of a part, and the client resumes from there. The part is recorded only if the
   * session may still take it, asked in the transaction that records it: a grant change that ended
   * the session while the body streamed moves no offset.
   */
  async function appendBody(req: Request, id: string, headers: { offset: number; length: number; checksum?: string }) {
    return withUploadLock(db, id, async (lockHeld) => {
      const session = await getUploadSession(db, id);
      if (session.status !== 'open') throw notOpen(session);
      if (Date.now() >= session.expires_at.getTime()) throw new GoneError(`upload ${id} has expired`);
      const tus = (await findTusUpload(db, id))!;
      if (headers.offset !== tus.offset_bytes)
        throw new ConflictError(`Upload-Offset is ${headers.offset}, but the upload is at ${tus.offset_bytes}: send HEAD`);
      const finishes = checkBodyLength(tus.offset_bytes, headers.length, session.size_bytes);
      // An empty body stores nothing, but for the one empty part of an empty upload.
      if (headers.length === 0 && !(finishes && tus.part_count === 0)) return { offset: tus.offset_bytes, finishes: false };

      const partNumber = tus.part_count + 1;
      const meter = createMeter(headers.length, deps.metrics.countUploaded);
      // The whole file's hash goes on from the last part's end, while every byte so far was hashed here.
      const streamed = tus.sha256_streamed && (tus.sha256_state !== null || tus.offset_bytes === 0);
      const sha256 = streamed ? await sha256From(tus.sha256_state) : undefined;
      const tap = sha256 ? partHashTap(sha256) : undefined;
      let etag: string | undefined;
      try {
        ({ etag } = await sendPartBody(
          s3,
          {
            bucket,
            key: session.object_key,
            uploadId: session.s3_upload_id!,
            partNumber,
            sizeBytes: headers.length,
            declaredSha256: headers.checksum && Buffer.from(headers.checksum, 'base64').toString('hex'),
          },
          req,
          meter,
          tap?.stream,
        ));
      } catch (err) {
        if (!(err instanceof PartRefusedError)) throw err;
        if (err.refusal === 'checksum') throw new ChecksumMismatchError('the body does not match its Upload-Checksum; none of it was kept');
        // Terminated or expired meanwhile: the workflow has dropped the multipart upload.
        throw new GoneError(`upload ${id} has ended: its bytes are gone`);
      }
      // The store holds the bytes hashed when its ETag (the part's MD5) is theirs.
      const sha256State = sha256 && etag === tap!.etag() ? saveState(sha256) : null;
      return db.transaction(async (trx) => {
        // The lock was lost while the body streamed: another PATCH may have stored this part since, and its record stands.
        if (!(await lockHeld(trx))) throw new LockedError(`upload ${id} lost its lock while this PATCH streamed: send HEAD, then try again`);
        if (!(await sessionStillWrites(trx, id))) throw new GoneError(`upload ${id} has ended: its bytes are gone`);
        return { offset: await recordPart(trx, id, { partNumber, sizeBytes: headers.length, sha256State, etag: etag ?? '' }), finishes };
      });
    });
  }

  /**
   * The last byte starts the finish: the workflow assembles, verifies, commits. The answer waits
   * for it (up to STORAGE_UPLOAD_WAIT_SECONDS), so a whole file that does not match its declared
   * checksum_sha256 is a 460 on the last PATCH; past the wait the status is at /api/v2/uploads/{id}.
   */
  async function finish(actor: Actor, session: UploadSessionRow): Promise<void> {
    const { id } = session;
    try {
      const outcome = await sessions.answeringRevocation(actor, session.asset_id, () => completeUploadSession(uploads, id, {}, waitMs));
      if (outcome.done) await deps.assetCache.invalidate([outcome.result.assetId]);
    } catch (err) {
      if (err instanceof UnprocessableError) throw new ChecksumMismatchError(`${err.message}; the upload is deleted`);
      throw err;
    }
  }

  /** A PATCH refused while it streamed: a session its access no longer lets write is answered as such, whatever the store said. */
  function answeringEnd(res: Response, id: string) {
    return async (err: unknown): Promise<never> => {
      await sessions.sessionFor(actorOf(res), id, true);
      throw err;
    };
  }

  /** Ends an upload whose creation was refused, and removes its rows once its bytes are gone (or leaves them to its expiry). */
  async function discardCreated(id: string): Promise<void> {
    try {
      await abortUploadSession(uploads, id, waitMs);
      await db('upload_sessions').where({ id, status: 'aborted' }).delete();
    } catch {
      // The run ends it at its expiry all the same.
    }
  }

  function sendOffset(res: Response, status: number, session: UploadSessionRow, offset: number): void {
    res.setHeader('Upload-Offset', String(offset));
    res.setHeader('Upload-Expires', session.expires_at.toUTCString());
    res.status(status).end();
  }

  router.post(TUS_PATH, async (req, res) => {
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
    await sessions.answeringRevocation(actor, existing?.id ?? null, () => openUploadSession(uploads, actor, input));
    await insertTusUpload(db, input.uploadId, headers['upload-metadata']);
    const id = input.uploadId;
    res.setHeader('Location', `${TUS_PATH}/${id}`);
    let offset = 0;
    // creation-with-upload; an empty upload is complete as soon as it is created.
    if (bodyLength || length === 0) {
      const appended = await appendBody(req, id, { offset: 0, length: bodyLength?.['content-length'] ?? 0, checksum: bodyLength?.['upload-checksum'] }).catch(
        async (err: unknown) => {
          // First bytes refused as they came (a checksum, a budget, the client gone): the client was
          // given no upload, so none is left, nor its row.
          await discardCreated(id);
          throw err;
        },
      );
      offset = appended.offset;
      if (appended.finishes) await finish(actor, await getUploadSession(db, id));
    }
    sendOffset(res, 201, await getUploadSession(db, id), offset);
  });

  // HEAD is the tus status; GET, the same headers with them as JSON (Express answers HEAD with the GET route).
  router.get(`${TUS_PATH}/:id`, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    if (req.method === 'HEAD') checkTusResumable(req);
    const { session, tus } = await tusUploadFor(res, id);
    if (session.status !== 'open' && session.status !== 'completing' && session.status !== 'completed') throw notOpen(session);
    // The last PATCH was stored but its finish never started (its API process died in between).
    if (session.status === 'open' && tus.offset_bytes === session.size_bytes && tus.part_count > 0) await finish(actorOf(res), session);
    const offset = session.status === 'open' ? tus.offset_bytes : session.size_bytes;
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Upload-Offset', String(offset));
    res.setHeader('Upload-Length', String(session.size_bytes));
    if (tus.upload_metadata) res.setHeader('Upload-Metadata', tus.upload_metadata);
    res.setHeader('Upload-Expires', session.expires_at.toUTCString());
    res.json({ upload_id: id, status: session.status, offset_bytes: offset, size_bytes: session.size_bytes, status_url: `/api/v2/uploads/${id}` });
  });

  router.patch(`${TUS_PATH}/:id`, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    checkTusResumable(req);
    if (req.is(OFFSET_OCTET_STREAM) !== OFFSET_OCTET_STREAM) throw new UnsupportedMediaTypeError(`a PATCH body is ${OFFSET_OCTET_STREAM}`);
    const headers = parse(patchHeaders, req.headers, 'headers');
    const { session } = await tusUploadFor(res, id, true);
    // Before the lock: a PATCH still unwinding on a terminated upload must not make this one wait.
    if (session.status !== 'open') throw notOpen(session);
    // The length is fixed at creation (no Upload-Defer-Length): a client that believes another would end the upload elsewhere.
    const length = req.get('upload-length');
    if (length !== undefined && length !== String(session.size_bytes)) {
      throw new ValidationError(`Upload-Length is ${session.size_bytes}, set when the upload was created; this PATCH says ${length}`, [
        { path: 'upload-length', message: `must be ${session.size_bytes}, or left out` },
      ]);
    }
    const appended = await appendBody(req, id, {
      offset: headers['upload-offset'],
      length: headers['content-length'],
      checksum: headers['upload-checksum'],
    }).catch(answeringEnd(res, id));
    if (appended.finishes) await finish(actorOf(res), session);
    sendOffset(res, 204, session, appended.offset);
  });

  router.delete(`${TUS_PATH}/:id`, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    checkTusResumable(req);
    const { session } = await tusUploadFor(res, id);
    if (session.status === 'aborted') throw notOpen(session);
    await abortUploadSession(uploads, id, waitMs);
    res.status(204).end();
  });

  return router;
}
