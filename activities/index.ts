import type { ActivityDeps } from './deps';
import { createAssetDeletionActivities } from './assets';
import { createBackupRestoreActivities } from './backups/backup';
import { createDrillActivities } from './drills';
import { createPointInTimeActivities } from './backups/pointInTime';
import { createLifecycleActivities } from './lifecycle';
import { createIngestActivities } from './uploads/ingest';
import { createOutboxActivities } from './events';
import { createScrubActivities } from './scrub/scrub';
import { withPermanentFailures } from './permanentFailures';
import { createUploadActivities } from './uploads/uploads';

export type { ActivityDeps } from './deps';

export function createActivities(deps: ActivityDeps) {
  return withPermanentFailures({
    ...createUploadActivities(deps),
    ...createOutboxActivities(deps),
    ...createIngestActivities(deps),
    ...createAssetDeletionActivities(deps),
    ...createBackupRestoreActivities(deps),
    ...createDrillActivities(deps),
    ...createPointInTimeActivities(deps),
    ...createLifecycleActivities(deps),
    ...createScrubActivities(deps),
  });
}

export type Activities = ReturnType<typeof createActivities>;
