// The workflow types the worker registers. Each lives in its own file; this module only re-exports.
export { uploadWorkflow } from './uploads/workflow';
export { deleteAssetWorkflow } from './assets/deleteAsset';
export { lifecycleSweepWorkflow, scheduledLifecycleWorkflow } from './lifecycle/sweep';
export { outboxRelayWorkflow } from './events/relay';
export { backupWorkflow, scheduledBackupWorkflow } from './backups/backup';
export { restoreWorkflow } from './backups/restore';
export { pointInTimeRestoreWorkflow } from './backups/pointInTime';
export { backupRetentionWorkflow } from './backups/retention';
export { restoreDrillWorkflow, scheduledRestoreDrillWorkflow } from './drills/drill';
export { scrubWorkflow, scheduledScrubWorkflow } from './scrub/scrub';
