import { condition, continueAsNew, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { OutboxActivities } from '../activities/outbox';

const { deliverPendingEvents } = proxyActivities<OutboxActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Sent after commits that wrote events, so they go out without waiting for the timer. */
export const wakeSignal = defineSignal('wake');

const PASSES_PER_RUN = 200;

/** Runs for as long as the service does: delivers the outbox, sleeps until woken or something is due. */
export async function outboxRelayWorkflow(): Promise<void> {
  let woken = false;
  setHandler(wakeSignal, () => {
    woken = true;
  });
  for (let pass = 0; pass < PASSES_PER_RUN; pass++) {
    const { sleepMs } = await deliverPendingEvents();
    // A wake that came during the pass means new events: go again at once.
    if (sleepMs > 0 && !woken) await condition(() => woken, sleepMs);
    woken = false;
  }
  await continueAsNew<typeof outboxRelayWorkflow>();
}
