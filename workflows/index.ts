// The workflow types the worker registers. Each lives in its own file; this module only re-exports.
export { uploadWorkflow } from './upload';
export { deleteAssetWorkflow } from './deleteAsset';
export { lifecycleSweepWorkflow } from './lifecycleSweep';
export { outboxRelayWorkflow } from './outboxRelay';
export { backupWorkflow, scheduledBackupWorkflow } from './backup';
export { restoreWorkflow } from './restore';
export { backupRetentionWorkflow } from './backupRetention';
