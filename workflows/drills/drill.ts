import { ApplicationFailure, continueAsNew, executeChild, proxyActivities, setHandler } from '@temporalio/workflow';
import type { DrillActivities } from '../../activities/drills';
import { DrillFailure, drillStatusQuery, restoreDrillOperation, restoreDrillWorkflowId, type DrillInput, type DrillState } from './definitions';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';
import { storageActor, storageOperation } from '../shared/searchAttributes';
import { uuidv7Now } from '../shared/uuidv7';
import { SYSTEM_ACTOR_REF } from '../shared/actor';
import { boundedSteps } from '../shared/stepBounds';

const bounds = boundedSteps(Object.values(DrillFailure));
const catalog = proxyActivities<DrillActivities>(bounds.catalog);
const steps = proxyActivities<DrillActivities>(bounds.streaming);

/**
 * restore-drill-{drill_id}: begins the drill (its backup, its sample), checks the sampled assets a step
 * at a time (the row holds the position, so it resumes after a crash and continues as new), then ends
 * it: the scratch prefix removed, the row passed or failed, a pass stamping the backup. A drill that
 * found a failure fails its run too, naming what failed. Answers `restoreDrillStatus` while it runs.
 */
export async function restoreDrillWorkflow(input: DrillInput): Promise<DrillState> {
  const { drillId, tuning } = input;
  const state: DrillState = { status: 'pending', backupId: null, assetsTotal: 0, assetsChecked: 0, error: null };
  setHandler(drillStatusQuery, () => state);
  return withFailureHandler(
    async () => {
      const begun = await steps.beginRestoreDrill(drillId);
      state.backupId = begun.backupId;
      state.assetsTotal = begun.assetsTotal;
      if (begun.status === 'passed' || begun.status === 'failed') {
        state.status = begun.status;
        return state;
      }
      state.status = 'running';
      for (;;) {
        if (continueAsNewDue(tuning?.historyLimit)) await continueAsNew<typeof restoreDrillWorkflow>(input);
        const step = await steps.checkDrillAssets({ drillId, tuning });
        state.assetsChecked = step.assetsChecked;
        if (step.done) break;
      }
      const ended = await catalog.finishRestoreDrill({ drillId });
      state.status = ended.status as DrillState['status'];
      state.error = ended.error;
      if (ended.status === 'failed') {
        throw ApplicationFailure.create({ type: DrillFailure.failed, message: ended.error ?? 'the restore drill failed', nonRetryable: true });
      }
      return state;
    },
    async (err) => {
      // A drill that ended failed has recorded that already.
      if (state.status === 'failed') return;
      state.status = 'failed';
      state.error = messageOf(err);
      await catalog.finishRestoreDrill({ drillId, error: state.error });
    },
  );
}

/**
 * From the restore drill schedule: a drill of the newest completed backup, acting for the system, as
 * restore-drill-{drill_id}. No drill while there is no completed backup (a fresh deployment).
 */
export async function scheduledRestoreDrillWorkflow(): Promise<{ drillId: string | null; drill: DrillState | null }> {
  const drillId = uuidv7Now();
  if (!(await catalog.createScheduledDrill(drillId))) return { drillId: null, drill: null };
  const drill = await executeChild(restoreDrillWorkflow, {
    workflowId: restoreDrillWorkflowId(drillId),
    args: [{ drillId, actor: SYSTEM_ACTOR_REF }],
    typedSearchAttributes: [storageOperation(restoreDrillOperation), storageActor(SYSTEM_ACTOR_REF)],
  });
  return { drillId, drill };
}
