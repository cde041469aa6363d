/**
 * Simple uploads (`POST /assets/upload`, `POST /assets/{id}/versions`): the form's single `file` part is
 * streamed straight to S3 at the new version's own key while it is hashed and counted, so memory
 * stays bounded by the S3 part size whatever the file size. The upload's workflow is started before
 * the first byte is written (without waiting for a worker to open it), so bytes staged by an API that
 * then dies are cleaned up by its expiry. Past STORAGE_MAX_PENDING_UPLOADS in flight, an upload is
 * refused before its body is read (lib/limits/pendingUploads.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Request } from 'express';
import type { Readable } from 'node:stream';
import type { AssetRow } from '../../lib/assets/assets';
import { ownerOfNewAsset, versionTargetOf } from '../../lib/assets/permissions';
import type { Actor } from '../../lib/auth/actor';
import type { Config } from '../../lib/platform/config';
import { pendingUploadsOf } from '../../lib/limits/pendingUploads';
import { ServiceUnavailableError, UnprocessableError, UnsupportedMediaTypeError, ValidationError } from '../../lib/platform/errors';
import { stageToS3, type StagedObject } from '../../lib/platform/staging';
import { abortUploadSession, completeStartedUpload, startSimpleUpload, type CompleteOutcome, type UploadClient } from '../../lib/uploads/uploadRuns';
import { newUploadInput } from '../../lib/uploads/input';
import { discardSessionBytes } from '../../lib/uploads/sessionBytes';
import { findUploadSession } from '../../lib/uploads/store';
import { endedWithoutCommit } from '../../lib/uploads/sessionRow';
import { StreamReservation, reserveUploadBytes } from '../../lib/quotas/reservations';
import { countingProgress } from '../../lib/uploads/progress';
import type { z } from 'zod';
import { readForm, type FormPart } from '../http/form';
import { assetName, contentType, parse } from '../schemas/common';
import { uploadFormFields, versionFormFields } from '../schemas/assets';

const ABORT_WAIT_MS = 15_000;
// A refused upload's slot comes free as soon as one in flight is answered: a short wait, then try
// again. Drawn from 1 to 4 s, so that a burst's refused clients come back spread out, not in one wave
// that finds the slots taken again while the seconds between it and the next pass idle.
const PENDING_RETRY_SECONDS = { min: 1, max: 4 };
const pendingRetrySeconds = () => PENDING_RETRY_SECONDS.min + Math.floor(Math.random() * (PENDING_RETRY_SECONDS.max - PENDING_RETRY_SECONDS.min + 1));

/** The fields of either form, as parsed (a version's form has no owner_id). */
type UploadFormFields = Partial<z.infer<typeof uploadFormFields>>;

export interface SimpleUploadDeps {
  config: Config;
  s3: S3Client;
  uploads: UploadClient;
  countBytes?: (n: number) => void;
  /** Told the upload's id before it starts (the request's Idempotency-Key keeps it). */
  recordUpload?: (uploadId: string) => Promise<void>;
  /** A new version's If-Match: compared with the asset's ETag as its session is inserted (UploadTarget.ifMatch). */
  ifMatch?: string;
  /** How long to wait for the commit (Prefer: wait=N); STORAGE_UPLOAD_WAIT_SECONDS unless said. */
  waitMs?: number;
}

export type SimpleUploadOutcome = CompleteOutcome & { uploadId: string };

interface Staged extends StagedObject {
  uploadId: string;
  objectKey: string;
  filename: string;
  mimeType: string;
}

/**
 * Receives the form, stages the file, then has uploadWorkflow verify and commit it. A new asset is
 * `actor`'s, or (for a service or an admin) that of the form's `owner_id`, wherever in the form it
 * comes: like the name, it is final when the upload completes. A new version's form names no owner.
 * With the API's simple uploads all in flight, the answer is 503 with Retry-After, the body unread.
 */
export async function receiveSimpleUpload(req: Request, actor: Actor, deps: SimpleUploadDeps, existing?: AssetRow): Promise<SimpleUploadOutcome> {
  if (!req.is('multipart/form-data')) {
    throw new UnsupportedMediaTypeError('send the file as multipart/form-data, in one part named "file"');
  }
  // A run not taken by then is given up on, leaving the wait for its outcome within the request timeout;
  // a Prefer: wait longer than the default does not shorten the time a worker has to take the run.
  const defaultWaitMs = deps.config.uploads.waitSeconds * 1000;
  const deadline = Date.now() + deps.config.http.requestTimeoutMs;
  const takeBy = deadline - Math.min(deps.waitMs ?? defaultWaitMs, defaultWaitMs);
  const { maxPending } = deps.config.uploads;
  const slot = pendingUploadsOf(deps.uploads, maxPending).take();
  if (!slot) {
    const retryAfter = pendingRetrySeconds();
    throw new ServiceUnavailableError(
      `${maxPending} simple uploads are in flight here already: the body was not read, nothing was stored; try again in ${retryAfter} s`,
      retryAfter,
    );
  }
  try {
    return await receiveAdmitted(req, actor, deps, existing, { takeBy, deadline, defaultWaitMs });
  } finally {
    slot.release();
  }
}

/**
 * receiveSimpleUpload once the upload holds its slot: reads the form, gives up on a run not taken by
 * `takeBy`, and waits for its outcome until `deadline` at the latest (the request timeout).
 */
async function receiveAdmitted(
  req: Request,
  actor: Actor,
  deps: SimpleUploadDeps,
  existing: AssetRow | undefined,
  { takeBy, deadline, defaultWaitMs }: { takeBy: number; deadline: number; defaultWaitMs: number },
): Promise<SimpleUploadOutcome> {
  const formFields = existing ? versionFormFields : uploadFormFields;
  // The owner the form names so far: a new version's form names none, and a new asset defaults to the caller.
  const ownerNamedBy = (form: UploadFormFields) => (existing ? undefined : ownerOfNewAsset(actor, form.owner_id));
  const fields: Record<string, string | string[]> = {};
  let given: UploadFormFields = {};
  let extraFiles = 0;
  let staging: Promise<Staged> | undefined;
  // Whom the session was opened for: its bytes are reserved for them until the form names someone else.
  let openedFor: string | undefined;
  let openedUploadId: string | undefined;
  let completing = false;
  // Staging that fails (e.g. past the size limit) ends the form at once, without reading the rest of the body.
  const stagingFailed = new AbortController();

  try {
    for await (const part of readForm(req, stagingFailed.signal)) {
      if (part.type === 'field') {
        const prior = fields[part.name];
        fields[part.name] = prior === undefined ? part.value : ([] as string[]).concat(prior, part.value);
        // A bad field is refused as it arrives: sent before the file, it is refused before anything is staged.
        given = parse(formFields, normalizeTags(fields), 'form fields');
        // Checked as it arrives too, though the owner is applied when the upload completes.
        if (part.name === 'owner_id') ownerNamedBy(given);
      } else if (part.type === 'extraFile') {
        extraFiles++;
      } else {
        const upload = simpleUploadOf(deps.config, { actor, existing, ownerId: ownerNamedBy(given) ?? actor.sub }, part.info);
        openedFor = upload.input.ownerId;
        staging = stageFile(deps, actor, upload, part.stream, (uploadId) => (openedUploadId = uploadId));
        staging.catch((err) => {
          part.stream.resume();
          stagingFailed.abort(err);
        });
      }
    }

    if (!staging) throw new ValidationError('the form has no part named "file"', [{ path: 'file', message: 'required' }]);
    const staged = await staging;
    if (extraFiles > 0) {
      throw new ValidationError('the form must hold exactly one file, in a part named "file"', [{ path: 'file', message: 'only one file part is allowed' }]);
    }
    const form = parse(formFields, normalizeTags(fields), 'form fields');
    // Built first: a name or an owner refused here is the request's fault, and the upload is aborted.
    const request = completionOf(form, staged, existing, ownerNamedBy(form) === openedFor ? undefined : ownerNamedBy(form));
    // From here on the run owns the outcome, whatever this call answers.
    completing = true;
    // The wait ends with the request timeout, however long the body took and whatever Prefer asked.
    const waitMs = Math.max(0, Math.min(deps.waitMs ?? defaultWaitMs, deadline - Date.now()));
    const outcome = await completeStartedUpload(deps.uploads, staged.uploadId, request, waitMs, takeBy);
    return { ...outcome, uploadId: staged.uploadId };
  } catch (err) {
    // Whatever was staged goes, and (for a simple upload) so does the session's row.
    const staged = await staging?.catch(() => undefined);
    if (openedUploadId && !completing) await abortUploadSession(deps.uploads, openedUploadId, ABORT_WAIT_MS).catch(() => {});
    if (completing && staged) await discardIfEnded(deps, staged).catch(() => {});
    throw err;
  }
}

/**
 * After a completion that failed: bytes stored after their run had ended (the asset deleted for good
 * while they streamed, its sessions with it) were discarded by no one. The key is this upload's
 * alone, so once its session is gone, or ended without a commit, they go here; a session still open
 * or completing is its run's to end.
 */
async function discardIfEnded(deps: SimpleUploadDeps, staged: Staged): Promise<void> {
  const session = await findUploadSession(deps.uploads.db, staged.uploadId);
  if (!endedWithoutCommit(session)) return;
  await discardSessionBytes(deps.s3, deps.config.s3.bucket, { object_key: staged.objectKey, s3_upload_id: null });
}

/** The upload a form's file part opens, as far as its own filename and type tell (the form's fields may come after it). */
function simpleUploadOf(config: Config, target: { actor: Actor; existing?: AssetRow; ownerId: string }, info: Extract<FormPart, { type: 'file' }>['info']) {
  // busboy gives the part's type as type/subtype (one it cannot parse is text/plain): the rule is checked on what it gives.
  const partType = parse(contentType, info.mimeType, 'file');
  const input = newUploadInput(
    config,
    {
      kind: 'simple',
      // Provisional: the form's own fields may come after the file; `complete` carries the final ones.
      name: validOr(assetName, info.filename, 'upload'),
      contentType: partType,
    },
    target.existing && versionTargetOf(target.actor, target.existing),
    target.ownerId,
  );
  return { input, partType, filename: info.filename ?? '' };
}

/** Starts the upload's run, then streams the file to its key, hashed and counted; `opened` learns the upload once its run holds it. */
async function stageFile(
  deps: SimpleUploadDeps,
  actor: Actor,
  upload: ReturnType<typeof simpleUploadOf>,
  stream: Readable,
  opened: (uploadId: string) => void,
): Promise<Staged> {
  const input = deps.ifMatch === undefined || upload.input.newAsset ? upload.input : { ...upload.input, ifMatch: deps.ifMatch };
  await deps.recordUpload?.(input.uploadId);
  await startSimpleUpload(deps.uploads, actor, input, deps.config.quotas);
  opened(input.uploadId);
  const staged = await stageToS3(deps.s3, deps.config.s3.bucket, input.objectKey, stream, deps.config.uploads.maxSizeBytes, {
    // The reservation grows only part by part: a slow stream also touches its row, so its run sees it is alive.
    countBytes: countingProgress(deps.uploads.db, input.uploadId, deps.config.uploads.stallSeconds, deps.countBytes),
    reservation: new StreamReservation((total) => reserveUploadBytes(deps.uploads.db, deps.config.quotas, input.uploadId, total)),
  });
  return { ...staged, uploadId: input.uploadId, objectKey: input.objectKey, filename: upload.filename, mimeType: upload.partType };
}

/** What completes the upload: the staged file's facts, and the form's final fields (`ownerId` when it changed since the session opened). */
function completionOf(form: UploadFormFields, staged: Staged, existing: AssetRow | undefined, ownerId: string | undefined) {
  // A new version keeps the asset's name unless the form renames it.
  const name = form.name ?? existing?.name ?? staged.filename;
  if (!name) throw new ValidationError('the asset needs a name: send a "name" field or a filename', [{ path: 'name', message: 'required' }]);
  if (form.checksum_sha256 && form.checksum_sha256 !== staged.checksumSha256) {
    throw new UnprocessableError(`checksum mismatch: the file hashes to ${staged.checksumSha256}, ${form.checksum_sha256} was declared`);
  }
  return {
    sizeBytes: staged.sizeBytes,
    checksumSha256: staged.checksumSha256,
    s3ChecksumSha256: staged.s3ChecksumSha256,
    oneStep: true,
    details: {
      name: parse(assetName, name, 'name'),
      contentType: form.content_type ?? staged.mimeType,
      metadata: form.metadata,
      tags: form.tags,
      ownerId,
    },
  };
}

/** The part's own filename or media type when it follows the text rule (a client may send anything there). */
function validOr(schema: z.ZodType<string>, value: string | undefined, fallback: string): string {
  return value !== undefined && schema.safeParse(value).success ? value : fallback;
}

/** `tags` may be repeated or comma-separated. */
function normalizeTags(fields: Record<string, string | string[]>): Record<string, unknown> {
  if (fields.tags === undefined) return fields;
  const tags = ([] as string[])
    .concat(fields.tags)
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  return { ...fields, tags };
}
