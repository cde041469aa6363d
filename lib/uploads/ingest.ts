import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { getAsset } from '../assets/assets';
import { versionTargetOf } from '../assets/permissions';
import { uploadWorkflowId, versionMadeBefore } from './sessions';
import type { Config } from '../platform/config';
import { uuidFromName } from '../platform/ids';
import { ValidationError } from '../platform/errors';
import { sourceUrlProblem } from './sourceRules';
import { openUploadSession, type UploadClient } from './uploadRuns';
import { newUploadInput, type UploadIds } from './input';
import { uploadSessionExists } from './store';
import type { Knex } from 'knex';
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

/** The ids of the upload an event starts: derived from its id, so every delivery of it names the same upload. */
export function ingestIdsOf(eventId: string): UploadIds {
  return {
    uploadId: uuidFromName(`ingest-upload:${eventId}`),
    versionId: uuidFromName(`ingest-version:${eventId}`),
    newAssetId: uuidFromName(`ingest-asset:${eventId}`),
  };
}

/**
 * Whether the catalog knows the upload an earlier delivery of the event started: its session, or
 * (once table retention removed an ended session) the version it made, or the new asset it made.
 */
export async function ingestedBefore(db: Knex, ids: UploadIds, assetId: string | undefined): Promise<boolean> {
  if (await uploadSessionExists(db, ids.uploadId)) return true;
  return versionMadeBefore(db, { assetId: assetId ?? ids.newAssetId, versionId: ids.versionId, newAsset: assetId === undefined });
}

/**
 * service.asset.requested: fetches the URL into a new asset (or a new version of `assetId`) through
 * uploadWorkflow, acting for `actor` (who sent the event). Every id derives from the event id, so the
 * same event twice is one upload. A repeat is recognised from the catalog, and answered as the first
 * was, starting nothing: Temporal's REJECT_DUPLICATE forgets a closed run once its retention passes,
 * and a second run of a committed upload would fetch the source again over the version's object.
 */
export async function startIngest(uc: UploadClient, config: Config, actor: ActorRef, req: IngestRequest): Promise<{ workflowId: string }> {
  assertSourceUrlAllowed(req.sourceUrl, config.ingest.allowedHosts);
  const ids = ingestIdsOf(req.eventId);
  const workflowId = uploadWorkflowId(ids.uploadId);
  if (await ingestedBefore(uc.db, ids, req.assetId)) return { workflowId };
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
    ids,
  );
  const opening = openUploadSession(uc, actor, input);
  try {
    await opening;
  } catch (err) {
    // The event came before and its upload has ended: it was handled, once.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return { workflowId };
}
