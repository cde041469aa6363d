/**
 * What deleteAssetWorkflow, its client (lib/assets/deletionRuns.ts) and the lifecycle sweep, which
 * purges through it, share. Only types and plain values, so the workflow bundle, the API and the
 * activities can all import it.
 */
import type { ActsFor } from '../shared/actor';
import { PermanentFailure } from '../shared/failures';

/**
 * Failure types a deletion's activities raise for what no retry fixes: the catalog's refusals, and the
 * store refusing the bucket itself (access denied, no such bucket: a configuration no retry changes).
 */
export const DeletionFailure = { ...PermanentFailure, storeRefused: 'StoreRefused' } as const;

export interface DeleteAssetInput extends ActsFor {
  assetId: string;
  /** Set by a lifecycle purge (absent for DELETE ?permanent=true): the asset goes only if it still is a candidate. */
  purge?: PurgeCondition;
}

/**
 * What a lifecycle purge picked the asset for: soft-deleted, at or before `deletedBy` (its deleted_at
 * as the sweep read it, exact text). Restored since, or deleted again later, it is no longer one.
 */
export interface PurgeCondition {
  deletedBy?: string;
}

/** What hideAssetForDeletion answers when a lifecycle purge leaves the asset alone (it answers nothing when it hid it). */
export interface KeptAsset {
  kept: string;
}

export interface DeleteAssetResult {
  objectsDeleted: number;
  /** A lifecycle purge that found its asset no longer a candidate: why it left it alone. */
  kept?: string;
}

/** The StorageOperation search attribute of a deletion's run. */
export const deleteAssetOperation = 'delete';

/** An asset has one deletion: a second request for it joins the run under way. */
export function deleteAssetWorkflowId(assetId: string): string {
  return `delete-asset-${assetId}`;
}
