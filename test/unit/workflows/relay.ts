import { outboxRelayWorkflow } from '../../../workflows';
import { wakeSignal } from '../../../workflows/events/definitions';
import type { Stubs, WorkflowTestEnv } from '../support/workflowEnv';

const pass = (sleepMs: number, failedProbes = 0) => ({ delivered: 1, failed: 0, sleepMs, failedProbes });

export function relayStubs(): Stubs {
  return { deliverPendingEvents: jest.fn(async () => pass(60_000)) };
}

export const describeOutboxRelayWorkflow = (wf: WorkflowTestEnv) =>
  describe('outboxRelayWorkflow', () => {
    const start = (workflowId: string, failedProbes = 0) =>
      wf.env.client.workflow.start(outboxRelayWorkflow, { taskQueue: wf.taskQueue, workflowId, args: [failedProbes] });

    it('passes the backoff it was started with, and sleeps until the next event is due', async () => {
      // Time is not skipped outside a result: the server's clock runs as the wall clock does.
      const a = wf.stub({ deliverPendingEvents: jest.fn(async () => pass(200)) });
      const relay = await start('relay-due', 3);
      await waitForCalls(a.deliverPendingEvents, 2);
      await relay.terminate();
      expect(a.deliverPendingEvents.mock.calls[0]).toEqual([3]);
      expect(a.deliverPendingEvents.mock.calls[1]).toEqual([0]);
      expect(a.deliverPendingEvents.mock.calls.length).toBeGreaterThanOrEqual(2);
    });

    it('a wake signal cuts the wait short', async () => {
      const a = wf.stub({ deliverPendingEvents: jest.fn(async () => pass(3_600_000)) });
      const relay = await start('relay-woken');
      await waitForCalls(a.deliverPendingEvents, 1);
      await relay.signal(wakeSignal);
      await waitForCalls(a.deliverPendingEvents, 2);
      await relay.terminate();
      expect(a.deliverPendingEvents).toHaveBeenCalledTimes(2);
    });

    it('while the hub is unavailable a wake does not cut the backoff: the next pass waits for it', async () => {
      const a = wf.stub({ deliverPendingEvents: jest.fn(async (probes: number) => pass(probes === 0 ? 1_000 : 3_600_000, probes + 1)) });
      const relay = await start('relay-backoff');
      await waitForCalls(a.deliverPendingEvents, 1);
      await relay.signal(wakeSignal);
      await waitForCalls(a.deliverPendingEvents, 2);
      await relay.signal(wakeSignal);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await relay.terminate();
      expect(a.deliverPendingEvents.mock.calls).toEqual([[0], [1]]);
    });

    it('continues as new after its passes, carrying the backoff', async () => {
      let calls = 0;
      const a = wf.stub({ deliverPendingEvents: jest.fn(async () => (++calls <= 200 ? pass(0, 0) : pass(60_000, 0))) });
      const relay = await start('relay-continues');
      await waitForCalls(a.deliverPendingEvents, 201, 20_000);
      const { runId } = await relay.describe();
      await relay.terminate();
      expect(runId).not.toBe(relay.firstExecutionRunId);
    });
  });

async function waitForCalls(fn: jest.Mock, n: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (fn.mock.calls.length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} calls, saw ${fn.mock.calls.length}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
