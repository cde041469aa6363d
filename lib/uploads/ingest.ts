import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { getAsset } from '../assets/assets';
import { versionTargetOf } from '../assets/access';
import { uploadWorkflowId } from './sessions';
import type { Config } from '../platform/config';
import { uuidFromName } from '../platform/ids';
import { ValidationError } from '../platform/errors';
import { openUploadSession, type UploadClient } from './client';
import { newUploadInput } from './input';
import type { ActorRef } from '../auth/actor';

/**
 * Only http(s) URLs on a host of STORAGE_INGEST_ALLOWED_HOSTS may be fetched (each entry `host` or
 * `host:port`). Checked when the request arrives and again at every redirect.
 */
export function sourceUrlProblem(raw: string, allowedHosts: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${JSON.stringify(raw)} is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http and https URLs are fetched, not ${url.protocol}`;
  if (url.username || url.password) return 'URLs with credentials are not fetched';
  const host = url.hostname.toLowerCase();
  const hostPort = url.port ? `${host}:${url.port}` : host;
  if (!allowedHosts.includes(host) && !allowedHosts.includes(hostPort)) return `host ${hostPort} is not in STORAGE_INGEST_ALLOWED_HOSTS`;
  return undefined;
}

/**
 * The request's rule for a source URL as one regular expression, so that the OpenAPI document states
 * exactly what the API takes: http(s), an allowed host (any port unless the entry names one), no
 * credentials, no white space. An empty allow-list matches nothing.
 */
export function sourceUrlPattern(allowedHosts: string[]): string {
  if (allowedHosts.length === 0) return '[^\\s\\S]';
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const hosts = allowedHosts.map((entry) => (entry.includes(':') ? escape(entry) : `${escape(entry)}(?::[1-9][0-9]{0,3})?`));
  return `^https?://(?:${hosts.join('|')})(?:[/?#][^\\s]*)?$`;
}

export function assertSourceUrlAllowed(raw: string, allowedHosts: string[], path = 'data.source_url'): void {
  const problem = sourceUrlProblem(raw, allowedHosts);
  if (problem) throw new ValidationError(problem, [{ path, message: problem }]);
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
