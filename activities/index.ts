import type { ActivityDeps } from './deps';
import { createAssetDeletionActivities } from './assetDeletion';
import { createUploadActivities } from './uploads';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return {
    ...createUploadActivities(deps),
    ...createAssetDeletionActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
