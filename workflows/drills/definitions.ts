/**
 * The contract of the restore drill workflows: inputs, the query, failure types and ids. Only
 * @temporalio/workflow is imported (and types), so the workflow bundle, the activities and the API
 * all use this file.
 */
import { defineQuery } from '@temporalio/workflow';
import type { ActsFor } from '../shared/actor';

export type DrillRunStatus = 'pending' | 'running' | 'passed' | 'failed';

export interface DrillTuning {
  /** A check step returns after about this long, so progress reaches the workflow (default 10 s). */
  stepBudgetMs?: number;
  /** Continue as new once the history has this many events (default 2000). */
  historyLimit?: number;
}

export interface DrillInput extends ActsFor {
  drillId: string;
  tuning?: DrillTuning;
}

export interface DrillState {
  status: DrillRunStatus;
  backupId: string | null;
  assetsTotal: number;
  assetsChecked: number;
  error: string | null;
}

export interface DrillStep {
  done: boolean;
  assetsChecked: number;
}

export const drillStatusQuery = defineQuery<DrillState>('restoreDrillStatus');

/** Failure types the drill's activities raise and do not retry. */
export const DrillFailure = {
  notFound: 'RestoreDrillNotFound',
  /** No completed, kept backup to drill (or the one given is not one). */
  noBackup: 'RestoreDrillNoBackup',
  manifestCorrupt: 'RestoreDrillManifestCorrupt',
  /** The drill checked its sample and something did not restore: the run fails too, so the Temporal UI shows it. */
  failed: 'RestoreDrillFailed',
} as const;

/** A drill's workflow is named after it. */
export function restoreDrillWorkflowId(drillId: string): string {
  return `restore-drill-${drillId}`;
}

/** The StorageOperation search attribute of a drill's run (and of the drill schedule's). */
export const restoreDrillOperation = 'restore-drill';

/** Where a drill restores its sample in the asset bucket: never a live key (those begin with `assets/`). */
/** Every drill's scratch lies under this prefix of the asset bucket: the drills own it, not the scrub. */
export const DRILL_SCRATCH_ROOT = 'drills/';

export function drillScratchPrefix(drillId: string): string {
  return `${DRILL_SCRATCH_ROOT}${drillId}/`;
}
