import type { Knex } from 'knex';
import { declaredBytes, type UploadDetails, type UploadInput, type UploadStatus } from '../../workflows/uploads/definitions';
import { ForbiddenError } from '../auth/errors';
import type { Config } from '../platform/config';
import { UUID_PATTERN } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { sessionDeadline } from './progress';
import { ContentTypeMismatchError, NotFoundError } from '../platform/errors';
import { decideContentType, refusalMessage } from './contentType';
import { ensureIfMatch } from '../platform/etags';
import { assetEtag } from '../assets/assets';
import { recordEvent } from '../events/outbox';
import { replaceMetadata } from '../assets/store';
import { SYSTEM_OWNER, actorRef, actsForAnyOwner, type Actor } from '../auth/actor';
import { ensureWithinQuota, type QuotaDefaults } from '../quotas/quotas';
import { runActorOf, type AuditWriter } from '../audit/log';
import { AccessRevokedError, refuseRevokedCommit, refuseRevokedOpen } from './sessionAccess';
import { uploaderOf, type UploadSessionRow } from './sessionRow';
import {
  findUploadSession,
  insertUploadSessionRow,
  lockOpenSession,
  lockSession,
  markOpenSessionCompleting,
  markSessionCompleted,
  selectSessionPage,
  updateSessionFields,
  uploadSessionExists,
} from './store';
import {
  countVersionRows,
  existingAssetIds,
  findVersion,
  insertAssetRow,
  insertVersionRow,
  lockLiveAsset,
  recordCurrentVersion,
  shareLockLiveAssetOwner,
  supersedeCurrentVersions,
} from '../assets/store';

export function uploadWorkflowId(uploadId: string): string {
  return `upload-${uploadId}`;
}

export async function getUploadSession(db: Knex | Knex.Transaction, id: string): Promise<UploadSessionRow> {
  const row = await findUploadSession(db, id);
  if (!row) throw new NotFoundError(`upload ${id} not found`);
  return row;
}

/** A session as `actor` may see it: theirs, or any for a service or an admin; anyone else's does not exist for them. */
export async function getUploadSessionFor(db: Knex, actor: Actor, id: string): Promise<UploadSessionRow> {
  const row = await getUploadSession(db, id);
  if (row.owner_id !== actor.sub && !actsForAnyOwner(actor)) throw new NotFoundError(`upload ${id} not found`);
  return row;
}

type SessionCursor = { id: string };

/**
 * GET /uploads: the sessions `actor` may see, newest first: their own; any owner's (`owner_id`, or
 * all) for a service or an admin. Each as its row records it, with the deadline of an open one: the
 * live status and the parts received are the session's own read (GET /uploads/{id}).
 */
export async function listUploadSessions(
  db: Knex,
  bounds: Pick<Config['uploads'], 'stallSeconds' | 'resumableStallSeconds'>,
  actor: Actor,
  q: { owner_id?: string; status?: UploadSessionRow['status']; cursor?: string; limit: number },
): Promise<Page<UploadSessionJson>> {
  if (q.owner_id !== undefined && q.owner_id !== actor.sub && !actsForAnyOwner(actor)) {
    throw new ForbiddenError("only services and admins may list another owner's upload sessions");
  }
  const cursor = decodeCursor(q.cursor, (p): p is SessionCursor => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const ownerId = actsForAnyOwner(actor) ? q.owner_id : actor.sub;
  const rows = await selectSessionPage(db, { ownerId, status: q.status, beforeId: cursor?.id, limit: q.limit + 1 });
  return pageOf(
    rows,
    q.limit,
    (row) => toUploadSessionJson(row, { deadline: sessionDeadline(row, bounds) }),
    (row) => ({ id: row.id }),
  );
}

/**
 * The session's row, written once when its workflow opens it (a repeated call changes nothing). A
 * new version's session is refused once its asset is deleted: the share lock orders it against a
 * permanent deletion, which either finds the session and ends it, or is found here first. Under the
 * same lock, one whose opener's write access was revoked since the API checked it is refused
 * (AccessRevokedError), as its commit would be. It
 * reserves the bytes it declares (and the asset it makes) for the asset's owner, or is refused
 * (QuotaExceededError) and leaves no row. So is one whose If-Match (`ifMatch`) is not the asset's ETag
 * under that lock (StaleRevisionError). An event's upload (whose ids derive from the event) whose
 * version or new asset is already there, its session gone (table retention), is refused
 * (UploadMadeBeforeError): its run must not write its bytes again over the version's object.
 */
export async function insertUploadSession(db: Knex, input: UploadInput, quotas: QuotaDefaults): Promise<void> {
  await db.transaction(async (trx) => {
    if (await uploadSessionExists(trx, input.uploadId)) return;
    if (input.kind === 'fetch' && (await versionMadeBefore(trx, input))) throw new UploadMadeBeforeError(input.uploadId);
    const asset = input.newAsset ? undefined : await shareLockLiveAssetOwner(trx, input.assetId);
    if (!input.newAsset && !asset) throw new AssetGoneError(input.assetId);
    if (asset) ensureIfMatch(input.ifMatch, assetEtag(asset), (etag) => `asset ${input.assetId} has changed: its ETag is ${etag}; no version was made`);
    if (asset) await refuseRevokedOpen(trx, input, asset);
    const quotaOwner: string = asset?.owner_id ?? input.ownerId ?? SYSTEM_OWNER;
    const declared = declaredBytes(input);
    const chunked = input.kind === 'chunked' ? input : undefined;
    const described = input.kind === 'chunked' || input.kind === 'tus' ? input : undefined;
    await insertUploadSessionRow(trx, {
      id: input.uploadId,
      kind: input.kind,
      status: 'open',
      asset_id: input.newAsset ? null : input.assetId,
      result_asset_id: input.assetId,
      version_id: input.versionId,
      name: input.name,
      content_type: input.contentType,
      size_bytes: declared.sizeBytes ?? 0,
      checksum_sha256: declared.checksumSha256 ?? null,
      part_size_bytes: chunked?.partSizeBytes ?? null,
      part_count: chunked?.partCount ?? null,
      metadata: described?.metadata === undefined ? null : JSON.stringify(described.metadata),
      tags: described?.tags ?? null,
      object_key: input.objectKey,
      workflow_id: uploadWorkflowId(input.uploadId),
      owner_id: input.ownerId ?? null,
      reserved_bytes: declared.sizeBytes ?? 0,
      quota_owner_id: quotaOwner,
      actor: input.actor ? JSON.stringify(actorRef(input.actor)) : null,
      write_basis: input.writeBasis ?? null,
      expires_at: input.expiresAt,
    });
    await ensureWithinQuota(trx, quotas, quotaOwner, { bytes: declared.sizeBytes ?? 0, assets: input.newAsset ? 1 : 0 });
  });
}

/**
 * The session stops taking parts; a simple upload's form fields, which may come after its file, are
 * final now. A new asset's owner named only now takes over its reservation, or is refused
 * (QuotaExceededError) and the session stays as it was.
 */
export async function markSessionCompleting(db: Knex, quotas: QuotaDefaults, uploadId: string, details: UploadDetails | undefined): Promise<void> {
  const fields: Record<string, unknown> = { status: 'completing' };
  if (details) {
    fields.name = details.name;
    fields.content_type = details.contentType;
    if (details.metadata !== undefined) fields.metadata = JSON.stringify(details.metadata);
    if (details.tags !== undefined) fields.tags = details.tags;
  }
  const newOwner = details?.ownerId;
  // The common case, the owner the session was opened for, takes one statement.
  if (newOwner === undefined) {
    await markOpenSessionCompleting(db, uploadId, fields);
    return;
  }
  await db.transaction(async (trx) => {
    const session = await lockOpenSession(trx, uploadId);
    if (!session) return;
    const moves = session.asset_id === null && newOwner !== session.quota_owner_id;
    await updateSessionFields(trx, uploadId, { ...fields, owner_id: newOwner, ...(moves ? { quota_owner_id: newOwner } : {}) });
    if (moves) await ensureWithinQuota(trx, quotas, newOwner, { bytes: session.reserved_bytes, assets: 1 });
  });
}

export interface CommittedVersion {
  assetId: string;
  versionId: string;
  /** How many noncurrent versions now exceed the limit: pruning is needed when > 0. */
  versionsBeyondMax: number;
}

/**
 * Whether the version an upload would make is in the catalog already, or, for a new asset, the asset:
 * an upload whose ids were derived (an event's) and made before, whatever became of its session.
 */
export async function versionMadeBefore(db: Knex, target: Pick<UploadInput, 'assetId' | 'versionId' | 'newAsset'>): Promise<boolean> {
  if (await findVersion(db, target.assetId, target.versionId)) return true;
  return target.newAsset && (await existingAssetIds(db, [target.assetId])).length > 0;
}

export class UploadMadeBeforeError extends Error {
  constructor(uploadId: string) {
    super(`upload ${uploadId} made its version before: it is not run again`);
    this.name = 'UploadMadeBeforeError';
  }
}

export class AssetGoneError extends Error {
  constructor(assetId: string) {
    super(`asset ${assetId} was deleted before the upload completed`);
    this.name = 'AssetGoneError';
  }
}

/**
 * Makes the verified upload a version, in one transaction with its events: a new asset, or a new
 * current version of an existing one. Version numbers come from the asset's counter under its row
 * lock, so concurrent uploads get 1, 2, 3... with no gap. Under the same lock, a new version's session
 * must still be allowed to write the asset (lib/uploads/sessionAccess.ts): if its grant was revoked
 * meanwhile, the session ends failed and AccessRevokedError is thrown once that is committed. So is
 * a new version's `ifMatch` compared again there: one that no longer names the asset's ETag (another
 * version or change came after the session opened) writes nothing (StaleRevisionError).
 * The version's type is decided there too, from what its first bytes are (`verified.sniffed`, read by
 * the caller: lib/uploads/contentType.ts), with the asset's type under the same lock; a declared image
 * type its bytes contradict writes nothing (ContentTypeMismatchError).
 * Committing the same upload again returns what the first commit made.
 */
export async function commitUploadedVersion(
  db: Knex,
  uploadId: string,
  verified: VerifiedBytes,
  maxVersions: number,
  audit: AuditWriter,
  ifMatch?: string,
): Promise<CommittedVersion> {
  const outcome = await db.transaction((trx) => commitInTransaction(trx, uploadId, verified, maxVersions, audit, ifMatch));
  if ('refused' in outcome) throw new AccessRevokedError(outcome.refused, { upload_id: uploadId });
  return outcome;
}

type VerifiedBytes = { sizeBytes: number; checksumSha256: string; sniffed?: SniffedBytes };

/** What the committed object's first bytes are, and whether a declared image type they contradict is refused. */
export interface SniffedBytes {
  detected: string | undefined;
  refuses: boolean;
}

/** The asset a session's version joins: `asset` is its row, locked, unless the session makes it (or it is gone). */
interface VersionTarget {
  assetId: string;
  newAsset: boolean;
  asset: { id: string; owner_id: string; last_version_number: number; content_type: string } | undefined;
}

async function commitInTransaction(
  trx: Knex.Transaction,
  uploadId: string,
  verified: VerifiedBytes,
  maxVersions: number,
  audit: AuditWriter,
  ifMatch: string | undefined,
): Promise<CommittedVersion | { refused: string }> {
  const opened = await findUploadSession(trx, uploadId);
  if (!opened) throw new NotFoundError(`upload ${uploadId} not found`);
  const assetId = opened.result_asset_id;
  const newAsset = opened.asset_id === null;
  // The asset's row before the session's: the lock order of lib/uploads/store.ts.
  const asset = newAsset ? undefined : await lockLiveAsset(trx, assetId);
  const locked = await lockSession(trx, uploadId);
  if (!locked) throw new NotFoundError(`upload ${uploadId} not found`);
  let session = locked;
  if (session.status !== 'completed') {
    // A new version's If-Match, compared when its session opened, holds still as it is written: else nothing is (412).
    if (asset) {
      ensureIfMatch(
        ifMatch,
        assetEtag(asset),
        (etag) => `asset ${assetId} has changed since the If-Match this version was sent with: its ETag is ${etag}; no version was made`,
      );
    }
    // A version of an asset gone meanwhile is refused as that below, whatever its bytes are.
    if (newAsset || asset) session = { ...session, content_type: storedTypeOf(session, asset, verified.sniffed) };
    const versionNumber = await nextVersionNumber(trx, session, { assetId, newAsset, asset }, audit);
    if (typeof versionNumber !== 'number') return versionNumber;
    await writeVersion(trx, session, { assetId, newAsset, versionNumber }, verified);
    await announceVersion(trx, session, { assetId, newAsset, versionNumber }, verified, audit);
  }
  const count = await countVersionRows(trx, assetId);
  return { assetId, versionId: session.version_id, versionsBeyondMax: Math.max(0, count - maxVersions) };
}

/** The type the session's version is stored with: as declared unless its first bytes were read (lib/uploads/contentType.ts). */
function storedTypeOf(session: UploadSessionRow, asset: VersionTarget['asset'], sniffed: SniffedBytes | undefined): string {
  if (!sniffed) return session.content_type;
  const decided = decideContentType({ declared: session.content_type, current: asset?.content_type, ...sniffed });
  if ('contentType' in decided) return decided.contentType;
  const { declared, detected } = decided.refused;
  throw new ContentTypeMismatchError(refusalMessage(decided.refused), { declared_type: declared, detected_type: detected, upload_id: session.id });
}

/**
 * The number the session's version gets: 1 for the asset it makes (whose row is written now), the
 * next of the asset's counter otherwise, its current version then superseded; or the refusal of a
 * session no longer allowed to write the asset.
 */
async function nextVersionNumber(
  trx: Knex.Transaction,
  session: UploadSessionRow,
  { assetId, newAsset, asset }: VersionTarget,
  audit: AuditWriter,
): Promise<number | { refused: string }> {
  if (newAsset) {
    await insertAssetRow(trx, {
      id: assetId,
      name: session.name,
      content_type: session.content_type,
      tags: session.tags ?? [],
      owner_id: session.owner_id ?? SYSTEM_OWNER,
      last_version_number: 0,
    });
    await replaceMetadata(trx, assetId, session.metadata ?? {});
    return 1;
  }
  if (!asset) throw new AssetGoneError(assetId);
  const refused = await refuseRevokedCommit(trx, session, asset, audit);
  if (refused) return { refused };
  await supersedeCurrentVersions(trx, assetId);
  return asset.last_version_number + 1;
}

/** The version's row, the asset's row made its current one, and the session completed. */
async function writeVersion(
  trx: Knex.Transaction,
  session: UploadSessionRow,
  { assetId, newAsset, versionNumber }: { assetId: string; newAsset: boolean; versionNumber: number },
  verified: VerifiedBytes,
): Promise<void> {
  await insertVersionRow(trx, {
    id: session.version_id,
    asset_id: assetId,
    version_number: versionNumber,
    object_key: session.object_key,
    size_bytes: verified.sizeBytes,
    content_type: session.content_type,
    checksum_sha256: verified.checksumSha256,
    upload_id: session.id,
    uploaded_by: uploaderOf(session),
  });
  await recordCurrentVersion(trx, assetId, {
    versionId: session.version_id,
    versionNumber,
    sizeBytes: verified.sizeBytes,
    checksumSha256: verified.checksumSha256,
    contentType: session.content_type,
    name: session.name,
    tags: !newAsset && session.tags !== null ? session.tags : undefined,
  });
  if (!newAsset && session.metadata !== null) await replaceMetadata(trx, assetId, session.metadata);
  await markSessionCompleted(trx, session.id, { versionNumber, ...verified, contentType: session.content_type });
}

/** The commit's events (the asset's creation, when it made one, and the version's) and its audit row. */
async function announceVersion(
  trx: Knex.Transaction,
  session: UploadSessionRow,
  { assetId, newAsset, versionNumber }: { assetId: string; newAsset: boolean; versionNumber: number },
  verified: VerifiedBytes,
  audit: AuditWriter,
): Promise<void> {
  const version = { asset_id: assetId, version_id: session.version_id, version_number: versionNumber };
  if (newAsset)
    await recordEvent(trx, 'storage.asset.created', assetId, {
      ...version,
      name: session.name,
      content_type: session.content_type,
      size_bytes: verified.sizeBytes,
    });
  await recordEvent(trx, 'storage.version.created', assetId, { ...version, size_bytes: verified.sizeBytes, checksum_sha256: verified.checksumSha256 });
  await audit(trx, {
    actor: runActorOf(session),
    action: 'upload.commit',
    outcome: 'completed',
    subjects: { asset_id: assetId, version_id: session.version_id, upload_id: session.id },
    requestId: session.workflow_id,
  });
}

export interface UploadSessionJson {
  id: string;
  status: UploadSessionRow['status'];
  name: string;
  content_type: string;
  size_bytes: number;
  checksum_sha256: string | null;
  part_size_bytes: number | null;
  part_count: number | null;
  parts_received: number[];
  bytes_received: number;
  asset_id: string | null;
  version_id: string | null;
  expires_at: string;
  workflow_id: string;
  error: string | null;
}

/** `status` is the workflow's live one while it runs; parts are what S3 holds; `deadline`, when an open session ends unless it progresses. */
export function toUploadSessionJson(
  row: UploadSessionRow,
  live: { status?: UploadStatus; error?: string | null; parts?: Array<{ partNumber: number; sizeBytes: number }>; deadline?: Date },
): UploadSessionJson {
  const status = live.status === undefined || live.status === 'pending' ? row.status : live.status;
  const completed = status === 'completed';
  const parts = completed && row.part_count ? Array.from({ length: row.part_count }, (_, i) => ({ partNumber: i + 1, sizeBytes: 0 })) : (live.parts ?? []);
  return {
    id: row.id,
    status,
    name: row.name,
    content_type: row.content_type,
    size_bytes: row.size_bytes,
    checksum_sha256: row.checksum_sha256,
    part_size_bytes: row.part_size_bytes,
    part_count: row.part_count,
    parts_received: parts.map((p) => p.partNumber),
    bytes_received: completed ? row.size_bytes : parts.reduce((sum, p) => sum + p.sizeBytes, 0),
    asset_id: row.asset_id ?? (completed ? row.result_asset_id : null),
    version_id: completed ? row.version_id : null,
    // An open session's sliding deadline (lib/uploads/progress.ts sessionDeadline), when the caller knows it.
    expires_at: (status === 'open' && live.deadline ? live.deadline : row.expires_at).toISOString(),
    workflow_id: row.workflow_id,
    // The workflow knows why a session failed before its row records it.
    error: live.error ?? row.error,
  };
}
