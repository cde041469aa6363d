import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { getAsset } from '../assets/assets';
import { versionTargetOf } from '../assets/permissions';
import { uploadWorkflowId } from './sessions';
import type { Config } from '../platform/config';
import { uuidFromName } from '../platform/ids';
import { ValidationError } from '../platform/errors';
import { sourceUrlProblem } from './sourceRules';
import { openUploadSession, type UploadClient } from './uploadRuns';
import { newUploadInput } from './input';
import type { ActorRef } from '../auth/actor';

/** The request's schema states the same rule as its pattern (api/schemas/events.ts); startIngest holds it whoever calls it. */
function assertSourceUrlAllowed(raw: string, allowedHosts: string[]): void {
  const problem = sourceUrlProblem(raw, allowedHosts);
  if (problem) throw new ValidationError(problem, [{ path: 'data.source_url', message: problem }]);
}

export interface IngestRequest {
  eventId: string;
  sourceUrl: string;
  name: string;
  contentType?: string;
  checksumSha256?: string;
  assetId?: string;
  /** Whom the upload is for: the new asset's owner (a new version keeps its asset's). */
  ownerId: string;
}

/**
 * service.asset.requested: fetches the URL into a new asset (or a new version of `assetId`) through
 * uploadWorkflow, acting for `actor` (who sent the event). Every id derives from the event id, so the
 * same event twice is one upload.
 */
export async function startIngest(uc: UploadClient, config: Config, actor: ActorRef, req: IngestRequest): Promise<{ workflowId: string }> {
  assertSourceUrlAllowed(req.sourceUrl, config.ingest.allowedHosts);
  // A service's (the route is theirs): it may write any asset, whatever the grants.
  const existing = req.assetId ? versionTargetOf({ ...actor, groups: [] }, await getAsset(uc.db, req.assetId)) : undefined;
  const input = newUploadInput(
    config,
    {
      kind: 'fetch',
      name: req.name,
      contentType: req.contentType ?? 'application/octet-stream',
      checksumSha256: req.checksumSha256,
      sourceUrl: req.sourceUrl,
    },
    existing,
    req.ownerId,
    {
      uploadId: uuidFromName(`ingest-upload:${req.eventId}`),
      versionId: uuidFromName(`ingest-version:${req.eventId}`),
      newAssetId: uuidFromName(`ingest-asset:${req.eventId}`),
    },
  );
  const opening = openUploadSession(uc, actor, input);
  try {
    await opening;
  } catch (err) {
    // The event came before and its upload has ended: it was handled, once.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { workflowId: uploadWorkflowId(input.uploadId) };
}
