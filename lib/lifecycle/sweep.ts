/**
 * Lifecycle sweeps (docs/architecture.md), the catalog side, as the activities and the API use it.
 *
 * A run goes through its phases in order: abort old upload sessions, purge old soft-deleted assets,
 * soft-delete assets not updated for long, expire noncurrent versions. Every age is measured from the
 * run's `as_of` (Temporal's clock when it began). Each phase walks its candidates by keyset, a batch
 * at a time; a batch commits its changes, its counts and the next position together, guarded by the
 * run's `step` (compare-and-set), so a retried batch never counts or removes anything twice, and a
 * dry run, which changes nothing, walks exactly the candidates the real run then removes.
 *
 * Where each part lives: runs.ts (what a run is), runRows.ts (its row), candidates.ts (what each phase
 * takes), workflowBatches.ts (uploads and purge, which the workflow acts on), assetExpiry.ts and
 * versionExpiry.ts (the phases the activities loop over), store.ts (the SQL).
 */
export * from './runs';
export { beginRun, completeRun, failRun, findRun, getRun, insertRun, listRuns } from './runRows';
export { versionCandidates, versionCandidatesQuery, type PurgeCandidate, type UploadCandidate, type VersionCandidate } from './candidates';
export { WORKFLOW_BATCH, commitWorkflowBatch, nextPurgeBatch, nextUploadBatch, type WorkflowBatch } from './workflowBatches';
export type { BatchOutcome } from './batchOutcome';
export { expireAssetsBatch } from './assetExpiry';
export { expireVersionsBatch } from './versionExpiry';
