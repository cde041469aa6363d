/**
 * What a lifecycle run is: its phases, the plan it applies, its counts, its row and how the API shows it.
 */
import type { ActorRef } from '../auth/actor';
import type { PolicyFilter, PolicyRule } from './policyRules';

export const LIFECYCLE_PHASES = ['uploads', 'purge', 'assets', 'versions', 'done'] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];
export type LifecycleRunStatus = 'pending' | 'running' | 'completed' | 'failed';

export const DEFAULT_BATCH_SIZE = 1000;

/**
 * A pending row whose workflow does not exist this long after it was written never gets one: a row
 * written by an older API (one that committed it before its start, not with it: lib/lifecycle/sweepRuns.ts)
 * that died in between, or a scheduled run's whose parent was stopped between writing it and starting
 * its child (normally a moment apart).
 */
export const PENDING_WITHOUT_WORKFLOW_MS = 5 * 60_000;

/** What a run applies, fixed when it begins. */
export interface SweepPlan {
  policies: Array<{ id: string; name: string; filter: PolicyFilter; rules: PolicyRule[] }>;
  /** STORAGE_VERSION_RETENTION_DAYS and STORAGE_MAX_VERSIONS; null for a run of one policy. */
  global: { version_retention_days: number; max_versions: number } | null;
}

export interface LifecycleCounts {
  versions_expired: number;
  assets_expired: number;
  assets_purged: number;
  uploads_aborted: number;
  bytes_freed: number;
  /**
   * Purges whose deletion ran out of its retries (workflows/assets/deleteAsset.ts): each asset stays
   * hidden and purging, and a later run picks it again. Kept on the run's row and in its workflow's
   * result; not (yet) in the API's view of a run (countsOf).
   */
  purges_failed?: number;
}

export interface LifecycleRunRow extends LifecycleCounts {
  id: string;
  policy_id: string | null;
  trigger: 'api' | 'schedule';
  dry_run: boolean;
  status: LifecycleRunStatus;
  workflow_id: string;
  as_of: Date | null;
  plan: SweepPlan | null;
  batch_size: number;
  phase: LifecyclePhase;
  cursor: Record<string, string | number | null> | null;
  step: number;
  /** Whom the run acts for; null for runs begun before runs recorded it. */
  actor: ActorRef | null;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

export interface LifecycleRunJson {
  id: string;
  status: LifecycleRunStatus;
  dry_run: boolean;
  policy_id: string | null;
  trigger: 'api' | 'schedule';
  counts: LifecycleCounts;
  phase: LifecyclePhase;
  as_of: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  workflow_id: string;
  error: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function countsOf(row: LifecycleCounts): LifecycleCounts {
  return {
    versions_expired: row.versions_expired,
    assets_expired: row.assets_expired,
    assets_purged: row.assets_purged,
    uploads_aborted: row.uploads_aborted,
    bytes_freed: row.bytes_freed,
  };
}

export function toRunJson(row: LifecycleRunRow): LifecycleRunJson {
  return {
    id: row.id,
    status: row.status,
    dry_run: row.dry_run,
    policy_id: row.policy_id,
    trigger: row.trigger,
    counts: countsOf(row),
    phase: row.phase,
    as_of: iso(row.as_of),
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    workflow_id: row.workflow_id,
    error: row.error,
  };
}

export function nextPhase(phase: LifecyclePhase): LifecyclePhase {
  return LIFECYCLE_PHASES[Math.min(LIFECYCLE_PHASES.indexOf(phase) + 1, LIFECYCLE_PHASES.length - 1)];
}
