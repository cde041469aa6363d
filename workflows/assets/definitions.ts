/**
 * What deleteAssetWorkflow, its client (lib/assets/deletionRuns.ts) and the lifecycle sweep, which
 * purges through it, share. Only types and plain values, so the workflow bundle, the API and the
 * activities can all import it.
 */
import type { ActsFor } from '../shared/actor';

export interface DeleteAssetInput extends ActsFor {
  assetId: string;
}

export interface DeleteAssetResult {
  objectsDeleted: number;
}

/** The StorageOperation search attribute of a deletion's run. */
export const deleteAssetOperation = 'delete';

/** An asset has one deletion: a second request for it joins the run under way. */
export function deleteAssetWorkflowId(assetId: string): string {
  return `delete-asset-${assetId}`;
}
