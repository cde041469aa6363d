/**
 * The contract between the API and the upload workflow: its input, its messages and its answers.
 * Only @temporalio/workflow is imported, so both the workflow bundle and the API can use this file.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export type UploadKind = 'simple' | 'chunked' | 'copy' | 'fetch';
export type UploadStatus = 'pending' | 'open' | 'completing' | 'completed' | 'failed' | 'aborted' | 'expired';

export interface UploadInput {
  uploadId: string;
  kind: UploadKind;
  /** The asset the version belongs to: an existing one, or the id the new asset will get. */
  assetId: string;
  newAsset: boolean;
  versionId: string;
  objectKey: string;
  expiresAt: string;
  name: string;
  contentType: string;
  /** Undefined for a new version that keeps the asset's metadata / tags. */
  metadata?: Record<string, string>;
  tags?: string[];
  /** Declared by the client (chunked) or known from the source (copy); for simple uploads, sent with complete. */
  sizeBytes?: number;
  checksumSha256?: string;
  partSizeBytes?: number;
  partCount?: number;
  /** kind 'copy': the object whose bytes become the new version. */
  copyFromKey?: string;
  /** kind 'fetch': the URL whose body becomes the new version (service.asset.requested). */
  sourceUrl?: string;
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
  details?: UploadDetails;
}

export interface UploadDetails {
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  tags?: string[];
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

/**
 * Failure types any activity raises for what no retry can fix (activities/permanentFailures.ts):
 * data PostgreSQL refuses (SQLSTATE class 22), a violated constraint (class 23).
 */
export const PermanentFailure = {
  invalidData: 'InvalidData',
  integrityViolation: 'IntegrityViolation',
} as const;

/** Failure types the update raises; the API maps each to its HTTP answer. */
export const UploadFailure = {
  ...PermanentFailure,
  missingParts: 'MissingParts',
  checksumMismatch: 'ChecksumMismatch',
  sizeMismatch: 'SizeMismatch',
  assetGone: 'AssetGone',
  notOpen: 'UploadNotOpen',
  sourceRejected: 'SourceRejected',
  /** Any other failure a step ends with. */
  failed: 'UploadFailed',
} as const;

/** uploadWorkflow's signature, for its clients (which must not import the workflow's own module). */
export type UploadWorkflow = (input: UploadInput) => Promise<UploadState>;

export const statusQuery = defineQuery<UploadState>('status');
/** Answers once the session is open (its row exists and, if chunked, its multipart upload). */
export const openedUpdate = defineUpdate<UploadState>('opened');
export const completeUpdate = defineUpdate<UploadResult, [CompleteRequest]>('complete');
export const abortSignal = defineSignal('abort');
