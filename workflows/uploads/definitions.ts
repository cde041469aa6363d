/**
 * The contract between the API and the upload workflow: its input, its messages and its answers.
 * Only @temporalio/workflow is imported, so both the workflow bundle and the API can use this file.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ActsFor } from '../shared/actor';
import { PermanentFailure } from '../shared/failures';

export type UploadStatus = 'pending' | 'open' | 'completing' | 'completed' | 'failed' | 'aborted' | 'expired';

/** Which upload it is and where its bytes become a version: the same for every kind. */
export interface UploadTarget {
  uploadId: string;
  /** The asset the version belongs to: an existing one, or the id the new asset will get. */
  assetId: string;
  newAsset: boolean;
  versionId: string;
  objectKey: string;
  expiresAt: string;
  /**
   * Whom the upload is for: the new asset's owner, or whoever opened a new version's session. Runs
   * started before owners existed have none; what they make belongs to the system.
   */
  ownerId?: string;
  /**
   * Why whoever opened a new version's upload may write its asset (lib/assets/permissions.ts writeBasisOf):
   * its commit checks it again. None for a new asset, nor in runs begun before uploads carried it.
   */
  writeBasis?: string;
  /**
   * A new version's: the If-Match its request carried, compared with the asset's ETag as its session
   * is inserted, under the asset's row lock (lib/uploads/sessions.ts): stale, the session is refused;
   * and again by its commit, under the same lock: stale then (the asset changed meanwhile), no version is made.
   */
  ifMatch?: string;
}

interface NamedContent {
  name: string;
  contentType: string;
}

/** A form's file. Its name and type are provisional: the form's fields, its size and checksum come with `complete`. */
export interface SimpleUpload extends NamedContent {
  kind: 'simple';
}

/** Parts sent one by one, checked against what the client declared when it created the session. */
export interface ChunkedUpload extends NamedContent {
  kind: 'chunked';
  /** Undefined for a new version that keeps the asset's metadata / tags. */
  metadata?: Record<string, string>;
  tags?: string[];
  sizeBytes: number;
  checksumSha256?: string;
  partSizeBytes: number;
  partCount: number;
}

/**
 * A tus upload (api/tus.ts): PATCHes appended in order, each stored as the next part of the
 * multipart upload, of whatever size it came in; the API records how many there are.
 */
export interface TusUpload extends NamedContent {
  kind: 'tus';
  metadata?: Record<string, string>;
  tags?: string[];
  sizeBytes: number;
  checksumSha256?: string;
}

/** A restore: an earlier version's object, whose bytes become the new version. */
export interface CopyUpload extends NamedContent {
  kind: 'copy';
  copyFromKey: string;
  /**
   * Where `copyFromKey` is: the assets bucket unless `backup` (a restore to a point in time copies a
   * backup's blob, lib/backups/pointInTimeBackups.ts). The copy is hashed against `checksumSha256` either way.
   */
  copyFromBucket?: 'backup';
  sizeBytes: number;
  checksumSha256: string;
}

/** service.asset.requested: the URL whose body becomes the new version. */
export interface FetchUpload extends NamedContent {
  kind: 'fetch';
  sourceUrl: string;
  checksumSha256?: string;
}

/** What each kind of upload is given: exactly its own fields. */
export type UploadContent = SimpleUpload | ChunkedUpload | TusUpload | CopyUpload | FetchUpload;
export type UploadKind = UploadContent['kind'];

export type UploadInput = UploadTarget & UploadContent & ActsFor & UpdateBound & StallBound;

/**
 * How long an open session may show no progress before its run ends it (STORAGE_UPLOAD_STALL_SECONDS):
 * the run looks every so often instead of waiting for its expiry alone. Runs started before it
 * existed have none, and wait for their expiry as they did.
 */
export interface StallBound {
  stallSeconds?: number;
  /**
   * The bound of a chunked or tus session (STORAGE_RESUMABLE_STALL_SECONDS), whose client may pause
   * between parts: its run still looks every `stallSeconds`. Runs begun before it existed use `stallSeconds`.
   */
  resumableStallSeconds?: number;
}

/** How long the session of `input` may show no progress before its run ends it (undefined: runs begun without a bound). */
export function stallBoundOf(input: { kind: UploadKind } & StallBound): number | undefined {
  const resumable = input.kind === 'chunked' || input.kind === 'tus';
  return (resumable ? input.resumableStallSeconds : undefined) ?? input.stallSeconds;
}

/** What a waiting run reads of its session (the activity sessionProgress). */
export interface SessionProgress {
  /** `gone` when its row no longer exists (its asset was deleted). */
  status: Exclude<UploadStatus, 'pending'> | 'gone';
  /** Seconds since the client last showed it was sending (a chunked session's parts in S3 included). */
  idleSeconds: number;
  /** A completed session's version. */
  result: UploadResult | null;
  error: string | null;
}

/** What discardUpload found: null, or a session committed already, with its version (the run then ends completed). */
export type DiscardOutcome = { committed: UploadResult } | null;

/**
 * How many updates a run takes (`opened`, and `complete` once it has one): each is written to its
 * history, and the server refuses a run's updates past its own limit (2,000 by default), the one that
 * would finish it too. Past the bound, only a `complete` the run takes is accepted, up to twice the
 * bound; every other is refused (UploadFailure.tooManyUpdates), unrecorded.
 */
export interface UpdateBound {
  /** DEFAULT_MAX_UPDATES unless given (tests give a small one). */
  maxUpdates?: number;
}

export const DEFAULT_MAX_UPDATES = 500;

/** What an upload is told of its bytes before they arrive: the stored object is checked against it. */
export function declaredBytes(content: UploadContent): { sizeBytes?: number; checksumSha256?: string } {
  switch (content.kind) {
    case 'simple':
      return {};
    case 'fetch':
      return { checksumSha256: content.checksumSha256 };
    case 'chunked':
    case 'tus':
    case 'copy':
      return { sizeBytes: content.sizeBytes, checksumSha256: content.checksumSha256 };
  }
}

/**
 * What `complete` carries for a simple upload: what the API counted and hashed while streaming, and
 * the form's fields (which may arrive after the file). Empty for a chunked upload.
 */
export interface CompleteRequest {
  sizeBytes?: number;
  checksumSha256?: string;
  /** The checksum S3 reports for the staged object, when the store checked each part on receipt (lib/platform/staging.ts). */
  s3ChecksumSha256?: string;
  /**
   * A chunked session whose every part the API hashed in order (lib/uploads/chunkedHashStates.ts): the
   * ETag the assembled object has if its parts are those bytes, with sizeBytes and checksumSha256.
   */
  multipartEtag?: string;
  details?: UploadDetails;
  /**
   * Finish a simple upload in one local activity rather than three. Asked by the request, not decided
   * by the run, so runs that took a `complete` without it replay the three steps they recorded; a
   * patch marker would have cost every run a search-attribute update (BENCHMARKS.md, row 5). A run
   * told to abort before it begins such a finish ends instead.
   */
  oneStep?: boolean;
}

export interface UploadDetails {
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  tags?: string[];
  /** A new asset's owner, when the form named it after the file. */
  ownerId?: string;
}

export interface UploadResult {
  assetId: string;
  versionId: string;
}

export interface UploadState {
  status: UploadStatus;
  error: string | null;
  result: UploadResult | null;
}

/** Failure types the update raises; the API maps each to its HTTP answer. */
export const UploadFailure = {
  ...PermanentFailure,
  missingParts: 'MissingParts',
  checksumMismatch: 'ChecksumMismatch',
  sizeMismatch: 'SizeMismatch',
  assetGone: 'AssetGone',
  notOpen: 'UploadNotOpen',
  sourceRejected: 'SourceRejected',
  /** The owner's quota would be passed; details[0] holds the facts of the 507 (lib/quotas/). */
  quotaExceeded: 'QuotaExceeded',
  /** What let the session write its asset (a grant) no longer does (lib/uploads/sessionAccess.ts). */
  accessRevoked: 'AccessRevoked',
  /** A new version's If-Match no longer names its asset's ETag: no session was opened, or no version made (412). */
  staleRevision: 'StaleRevision',
  /** A declared image type the bytes contradict (lib/uploads/contentType.ts); details[0] names both types (415). */
  contentTypeMismatch: 'ContentTypeMismatch',
  /** The run took as many updates as it takes (UpdateBound): the session is as it was, ask its status. */
  tooManyUpdates: 'TooManyUpdates',
  /** Any other failure a step ends with. */
  failed: 'UploadFailed',
} as const;

/** uploadWorkflow's signature, for its clients (which must not import the workflow's own module). */
export type UploadWorkflow = (input: UploadInput) => Promise<UploadState>;

export const statusQuery = defineQuery<UploadState>('status');
/** Answers once the session is open (its row exists and, if chunked, its multipart upload). */
export const openedUpdate = defineUpdate<UploadState>('opened');
export const completeUpdate = defineUpdate<UploadResult, [CompleteRequest]>('complete');
/** Ends an open session; `reason`, when given, is what its row and status say (runs signalled before it existed had none). */
export const abortSignal = defineSignal<[reason?: string]>('abort');
