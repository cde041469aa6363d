/**
 * The relay while the Message Hub is down: it probes the hub a few times a minute instead of running
 * back to back, and delivers everything within seconds of the hub's return, whatever the events' own backoff.
 */
import { tsToMs } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { recordEvent } from '../lib/outbox';
import { ensureOutboxRelay, listenForOutboxCommits, outboxRelayWorkflowId } from '../lib/outboxRelay';
import { startTestService } from './support/context';
import { startHub } from './support/hub';
import { waitUntil } from './support/processes';

const { EventType } = temporal.api.enums.v1;

it('probes a hub that is down a few times a minute, and delivers all 50 events in order per subject soon after it is back', async () => {
  const hub = await startHub();
  hub.setDown(true);
  // Events' own backoff reaches five minutes: a relay that waited for it would not deliver within the test.
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url, STORAGE_OUTBOX_RETRY_MAX_SECONDS: '300' });
  const relay = ctx.temporal.client.workflow.getHandle(outboxRelayWorkflowId(ctx.config.temporal.taskQueue));
  const stopListening = await listenForOutboxCommits(ctx.config.database.url, ctx.temporal.client, ctx.config.temporal.taskQueue, ctx.logger);
  try {
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);
    const subjects = ['subject-a', 'subject-b', 'subject-c'];
    // One commit each, as uploads make them: every commit wakes the relay.
    for (let n = 0; n < 50; n++) await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', subjects[n % 3], { n }));

    // Six probes take the relay's backoff of 1, 2, 4, 8 and 15 s: about half a minute.
    await waitUntil('six refused probes', async () => hub.refused() >= 6, 60_000);
    const { events } = await relay.fetchHistory();
    const activities = events!.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).length;
    const sleeps = events!.filter((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED).map((e) => tsToMs(e.timerStartedEventAttributes!.startToFireTimeout));
    // A pass before the events came, one while the first were not settled yet, then one probe per pass: the rest wait for its answer.
    expect(activities).toBeLessThanOrEqual(hub.refused() + 5);
    expect(sleeps).toEqual(expect.arrayContaining([1000, 2000, 4000, 8000, 15_000]));
    expect(sleeps.filter((ms) => ms < 1000)).toEqual([]);
    expect(events!.length).toBeLessThan(150);

    // As a longer outage leaves them: every event's own next attempt minutes away.
    await ctx.db('outbox_events').update({ next_attempt_at: ctx.db.raw(`now() + interval '300 seconds'`) });
    hub.setDown(false);
    await waitUntil('all 50 delivered', async () => hub.received.length >= 50, 20_000);

    const sent = await ctx.db('outbox_events').orderBy('sequence').select('id', 'subject');
    for (const subject of subjects) {
      expect(hub.received.filter((e) => e.subject === subject).map((e) => e.id)).toEqual(sent.filter((e) => e.subject === subject).map((e) => e.id));
    }
    expect(await ctx.db('outbox_events').whereNull('delivered_at')).toEqual([]);
  } finally {
    await stopListening();
    await relay.terminate('test over').catch(() => {});
    await ctx.stop();
    await hub.stop();
  }
}, 120_000);
