// The workflow types the worker registers. Each lives in its own file; this module only re-exports.
export { uploadWorkflow } from './upload';
export { deleteAssetWorkflow } from './deleteAsset';
