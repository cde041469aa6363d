/** Every upload's input is made here, whichever way it comes: a form, a chunked session, a restore, an event. */
import type { UploadContent, UploadInput } from '../../workflows/uploads/definitions';
import type { VersionTarget } from '../assets/permissions';
import { objectKeyFor } from '../assets/keys';
import type { Config } from '../platform/config';
import { uuidv7 } from '../platform/ids';

export interface UploadIds {
  uploadId: string;
  versionId: string;
  /** Used only when the upload makes a new asset. */
  newAssetId: string;
}

/**
 * The input of a new upload of `content` for `ownerId`: a new version of `existing` (with why they may
 * write it), or a new asset they will own. Its ids
 * are fresh unless given (an event's upload derives them from the event, so a repeat is the same one).
 * The version gets its own key; the session expires STORAGE_UPLOAD_EXPIRY_HOURS from now, or once it
 * shows no progress for STORAGE_UPLOAD_STALL_SECONDS (STORAGE_RESUMABLE_STALL_SECONDS for chunked and tus).
 */
export function newUploadInput(
  config: Pick<Config, 'uploads'>,
  content: UploadContent,
  existing: VersionTarget | undefined,
  ownerId: string,
  ids: UploadIds = { uploadId: uuidv7(), versionId: uuidv7(), newAssetId: uuidv7() },
): UploadInput {
  const assetId = existing?.id ?? ids.newAssetId;
  return {
    uploadId: ids.uploadId,
    assetId,
    newAsset: existing === undefined,
    versionId: ids.versionId,
    objectKey: objectKeyFor(assetId, ids.versionId),
    expiresAt: new Date(Date.now() + config.uploads.expiryHours * 3600_000).toISOString(),
    stallSeconds: config.uploads.stallSeconds,
    resumableStallSeconds: config.uploads.resumableStallSeconds,
    ownerId,
    ...(existing ? { writeBasis: existing.writeBasis } : {}),
    ...content,
  };
}
