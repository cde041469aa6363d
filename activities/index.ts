import type { ActivityDeps } from './deps';
import { createAssetDeletionActivities } from './assetDeletion';
import { createBackupRestoreActivities } from './backups';
import { createLifecycleActivities } from './lifecycle';
import { createIngestActivities } from './ingest';
import { createOutboxActivities } from './outbox';
import { withPermanentFailures } from './permanentFailures';
import { createUploadActivities } from './uploads';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return withPermanentFailures({
    ...createUploadActivities(deps),
    ...createOutboxActivities(deps),
    ...createIngestActivities(deps),
    ...createAssetDeletionActivities(deps),
    ...createBackupRestoreActivities(deps),
    ...createLifecycleActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
