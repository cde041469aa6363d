/**
 * The relay sleeps when nothing can be delivered: while the Message Hub is down it probes the hub a
 * few times a minute instead of running back to back, and delivers everything within seconds of the
 * hub's return, whatever the events' own backoff; events not settled yet wait without a spin.
 */
import { tsToMs } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { recordEvent } from '../lib/events/outbox';
import { ensureOutboxRelay, listenForOutboxCommits } from '../lib/events/relayRuns';
import { outboxRelayWorkflowId } from '../workflows/events/definitions';
import { startTestService, type TestContext } from './support/context';
import { startHub } from './support/hub';
import { waitUntil } from './support/processes';
import { recordHistories, replay } from './support/replay';

const { EventType } = temporal.api.enums.v1;

const relayOf = (ctx: TestContext) => ctx.temporal.client.workflow.getHandle(outboxRelayWorkflowId(ctx.config.temporal.taskQueue));

/** What the relay's history shows: how often its activity ran, and the sleeps it chose. */
async function passesOf(ctx: TestContext) {
  const history = await relayOf(ctx).fetchHistory();
  const events = history.events!;
  const sleepOf = (e: (typeof events)[number]) =>
    e.eventType === EventType.EVENT_TYPE_TIMER_STARTED ? tsToMs(e.timerStartedEventAttributes!.startToFireTimeout) : undefined;
  const isPass = (e: (typeof events)[number]) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED;
  const failedProbesOf = (e: (typeof events)[number]) => {
    const data = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    return data ? (JSON.parse(Buffer.from(data).toString()) as { failedProbes: number }).failedProbes : 0;
  };
  // The pass whose answer first says the hub is unavailable: from there on the relay is in its backoff.
  const firstRefusal = events.findIndex((e) => failedProbesOf(e) > 0);
  const afterFirstRefusal = firstRefusal < 0 ? [] : events.slice(firstRefusal);
  return {
    history,
    length: events.length,
    activities: events.filter(isPass).length,
    /** Passes whose answer put the relay in its outage backoff. */
    refusedPasses: events.filter((e) => failedProbesOf(e) > 0).length,
    /** Passes up to the first refusal: each but the first needs a wake, which only a commit sends. */
    passesBeforeRefusal: events.slice(0, firstRefusal < 0 ? events.length : firstRefusal).filter(isPass).length,
    /** Passes after it: each one probe, each followed by a sleep (a pass in a row with no sleep between would be a spin). */
    passesAfterRefusal: afterFirstRefusal.filter(isPass).length,
    passesWithoutSleep: afterFirstRefusal.filter(isPass).filter((pass) => {
      const next = afterFirstRefusal.slice(afterFirstRefusal.indexOf(pass) + 1).find((e) => isPass(e) || sleepOf(e) !== undefined);
      return next !== undefined && isPass(next);
    }).length,
    sleeps: events.map(sleepOf).filter((ms): ms is number => ms !== undefined),
  };
}

it('probes a hub that is down a few times a minute, and delivers all 50 events in order per subject soon after it is back', async () => {
  const hub = await startHub();
  hub.refuseWith(503);
  // Events' own backoff reaches five minutes: a relay that waited for it would not deliver within the test.
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url, STORAGE_OUTBOX_RETRY_MAX_SECONDS: '300' });
  const stopListening = await listenForOutboxCommits(ctx.config.database.url, ctx.temporal.client, ctx.config.temporal.taskQueue, ctx.logger);
  try {
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);
    const subjects = ['subject-a', 'subject-b', 'subject-c'];
    // One commit each, as uploads make them: every commit wakes the relay.
    for (let n = 0; n < 50; n++) await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', subjects[n % 3], { n }));

    // Six probes take the relay's backoff of 1, 2, 4, 8 and 15 s: about half a minute.
    await waitUntil('six refused probes', async () => hub.refused() >= 6, 60_000);
    const outage = await passesOf(ctx);
    // Before the first refusal a pass runs per wake (how many depends on how the 50 commits and the
    // passes interleave); from the first refusal on, every pass is one probe and a backoff sleep.
    expect(outage.passesBeforeRefusal).toBeLessThanOrEqual(51);
    expect(outage.passesWithoutSleep).toBe(0);
    // The first refusal ended a pass before them; the last may still be on its way to the hub.
    expect(outage.passesAfterRefusal).toBeGreaterThanOrEqual(5);
    expect(outage.passesAfterRefusal).toBeLessThanOrEqual(hub.refused());
    expect(outage.sleeps).toEqual(expect.arrayContaining([1000, 2000, 4000, 8000, 15_000]));
    expect(outage.sleeps.filter((ms) => ms < 1000)).toEqual([]);
    expect(outage.length).toBeLessThan(150);

    // As a longer outage leaves them: every event's own next attempt minutes away.
    await ctx.db('outbox_events').update({ next_attempt_at: ctx.db.raw(`now() + interval '300 seconds'`) });
    hub.refuseWith(null);
    await waitUntil('all 50 delivered', async () => hub.received.length >= 50, 20_000);

    const sent = await ctx.db('outbox_events').orderBy('sequence').select('id', 'subject');
    for (const subject of subjects) {
      expect(hub.received.filter((e) => e.subject === subject).map((e) => e.id)).toEqual(sent.filter((e) => e.subject === subject).map((e) => e.id));
    }
    expect(await ctx.db('outbox_events').whereNull('delivered_at')).toEqual([]);

    const { history } = await passesOf(ctx);
    const recorded = { name: 'outbox-relay-outage', workflowId: relayOf(ctx).workflowId, history };
    expect(await replay([recorded])).toEqual([]);
    recordHistories([recorded]);
  } finally {
    await stopListening();
    await relayOf(ctx)
      .terminate('test over')
      .catch(() => {});
    await ctx.stop();
    await hub.stop();
  }
}, 120_000);

it('sleeps between passes while the only pending event is not settled, and delivers it once it is', async () => {
  const hub = await startHub();
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url });
  // A transaction older than the event keeps it below nobody's snapshot: the relay may not send it yet.
  const older = await ctx.db.transaction();
  try {
    await older.raw('SELECT pg_current_xact_id()');
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 1 }));
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);

    const waiting = await waitUntil('three passes that found nothing settled', async () => {
      const passes = await passesOf(ctx);
      return passes.activities >= 3 && passes;
    });
    expect(waiting.activities).toBeLessThanOrEqual(waiting.sleeps.length + 1);
    expect(waiting.sleeps.every((ms) => ms >= 1000)).toBe(true);
    expect(hub.received).toEqual([]);

    await older.commit();
    await waitUntil('the event delivered', async () => hub.received.length === 1, 10_000);
  } finally {
    if (!older.isCompleted()) await older.rollback();
    await relayOf(ctx)
      .terminate('test over')
      .catch(() => {});
    await ctx.stop();
    await hub.stop();
  }
});

it('a hub that refuses an event (4xx) is up: that event backs off alone, and the other subjects go in the same pass', async () => {
  const hub = await startHub();
  hub.refuseWith(400);
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url });
  try {
    const subjects = ['subject-a', 'subject-b', 'subject-c'];
    await ctx.db.transaction(async (trx) => {
      for (const subject of subjects) await recordEvent(trx, 'storage.asset.updated', subject, { subject });
    });
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);
    await waitUntil('each subject refused once', async () => hub.refused() >= 3);
    // A relay that took 400 for an outage would have gone into its backoff, one probe per pass. (How
    // many passes ran depends on when the events settled, which a transaction elsewhere can delay.)
    expect((await passesOf(ctx)).refusedPasses).toBe(0);
    const rows = await ctx.db('outbox_events').select('attempts', 'last_error');
    expect(rows.every((row) => row.attempts >= 1 && row.last_error === 'the hub answered 400')).toBe(true);

    hub.refuseWith(null);
    await waitUntil('all three delivered', async () => hub.received.length === 3, 10_000);
  } finally {
    await relayOf(ctx)
      .terminate('test over')
      .catch(() => {});
    await ctx.stop();
    await hub.stop();
  }
});
