/** What the phases the activities loop over (assets, versions) share: a batch's outcome and its audit rows. */
import { runActorOf, type AuditEntry } from '../audit/log';
import type { LifecyclePhase, LifecycleRunRow } from './runs';

export interface BatchOutcome {
  phase: LifecyclePhase;
  /** What this batch did (zero when another attempt had done it). */
  processed: number;
  /** The assets whose rows the batch changed, for the cache to forget. */
  changed?: string[];
}

/** What a sweep's commit writes of each thing it changed: acting for the run's actor, under its workflow id. */
export function sweepEntries(run: LifecycleRunRow, action: string, subjects: AuditEntry['subjects'][]): AuditEntry[] {
  return subjects.map((s) => ({ actor: runActorOf(run), action, outcome: 'completed', subjects: s, requestId: run.workflow_id }));
}
