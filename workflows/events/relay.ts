import { condition, continueAsNew, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { OutboxActivities } from '../../activities/events';
import { wakeSignal } from './definitions';

const { deliverPendingEvents } = proxyActivities<OutboxActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const PASSES_PER_RUN = 200;

/**
 * Runs for as long as the service does: delivers the outbox, sleeps until woken or something is due.
 * `failedProbes` (passes in a row that found the hub unavailable) is the relay's backoff, kept across runs.
 */
export async function outboxRelayWorkflow(failedProbes = 0): Promise<void> {
  let woken = false;
  setHandler(wakeSignal, () => {
    woken = true;
  });
  for (let pass = 0; pass < PASSES_PER_RUN; pass++) {
    const next = await deliverPendingEvents(failedProbes);
    failedProbes = next.failedProbes;
    // While the hub is unavailable, new events do not cut the backoff short: only a probe can tell it is back.
    if (failedProbes > 0) await sleep(next.sleepMs);
    // A wake that came during the pass means new events: go again at once.
    else if (next.sleepMs > 0 && !woken) await condition(() => woken, next.sleepMs);
    woken = false;
  }
  await continueAsNew<typeof outboxRelayWorkflow>(failedProbes);
}
