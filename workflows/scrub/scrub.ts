import { continueAsNew, executeChild, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ScrubActivities } from '../../activities/scrub/scrub';
import { EMPTY_TALLY, ScrubFailure, scrubOperation, scrubStatusQuery, scrubWorkflowId, type ScrubInput, type ScrubState, type ScrubTally } from './definitions';
import { continueAsNewDue } from '../shared/continueAsNew';
import { messageOf, withFailureHandler } from '../shared/failures';
import { storageActor, storageOperation } from '../shared/searchAttributes';
import { uuidv7Now } from '../shared/uuidv7';
import { SYSTEM_ACTOR_REF } from '../shared/actor';
import { boundedSteps } from '../shared/stepBounds';

const bounds = boundedSteps(Object.values(ScrubFailure));
const catalog = proxyActivities<ScrubActivities>(bounds.catalog);
const steps = proxyActivities<ScrubActivities>(bounds.streaming);

/**
 * scrub-{scrub_id}: the asset bucket reconciled with the catalog, incomplete uploads aborted, a sample
 * of objects re-hashed, the backup bucket's blobs checked; one phase after the other, a step at a
 * time, each step's position saved to the row and carried across continue-as-new. The row exists
 * (written by the API or the schedule's run); the run answers `scrubStatus` with its live figures.
 */
export async function scrubWorkflow(input: ScrubInput): Promise<{ scrubId: string; status: string; tally: ScrubTally }> {
  const { scrubId, tuning, actor } = input;
  const state: ScrubState = {
    status: input.resume ? 'running' : 'pending',
    phase: input.resume?.phase ?? 'objects',
    tally: input.resume?.tally ?? EMPTY_TALLY,
    error: null,
  };
  let cursor = input.resume?.cursor ?? {};
  setHandler(scrubStatusQuery, () => state);
  return withFailureHandler(
    async () => {
      if (!input.resume) {
        const begun = await catalog.beginScrub(scrubId);
        state.tally = begun.tally;
        if (begun.status === 'completed' || begun.status === 'failed') {
          state.status = begun.status;
          return { scrubId, status: state.status, tally: state.tally };
        }
        state.status = 'running';
        state.phase = begun.phase;
        cursor = begun.cursor;
      }
      while (state.phase !== 'done') {
        if (continueAsNewDue(tuning?.historyLimit)) {
          await continueAsNew<typeof scrubWorkflow>({ scrubId, tuning, actor, resume: { phase: state.phase, cursor, tally: state.tally } });
        }
        const step = await steps.scrubStep({ scrubId, phase: state.phase, cursor, tally: state.tally, tuning });
        state.phase = step.phase;
        state.tally = step.tally;
        cursor = step.cursor;
      }
      await catalog.completeScrub({ scrubId, tally: state.tally });
      state.status = 'completed';
      return { scrubId, status: state.status, tally: state.tally };
    },
    async (err) => {
      state.error = messageOf(err);
      state.status = 'failed';
      await catalog.failScrub({ scrubId, error: state.error });
    },
  );
}

/** What the storage-scrub schedule starts: a scrub (scrub-{id}) acting for the system, with the configured share. */
export async function scheduledScrubWorkflow(): Promise<{ scrubId: string; status: string; tally: ScrubTally }> {
  const scrubId = uuidv7Now();
  await catalog.createScheduledScrub(scrubId);
  return executeChild(scrubWorkflow, {
    workflowId: scrubWorkflowId(scrubId),
    args: [{ scrubId, actor: SYSTEM_ACTOR_REF }],
    typedSearchAttributes: [storageOperation(scrubOperation), storageActor(SYSTEM_ACTOR_REF)],
  });
}
