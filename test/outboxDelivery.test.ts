/**
 * Issue 26, finding 10: nothing stuck in the outbox. An event the hub keeps refusing (4xx) is parked
 * with the hub's answer and the later events of its subject go on; the listener that wakes the relay
 * comes back after its connection is cut; and a long transaction in another database of the same
 * PostgreSQL server does not hold back this service's events.
 */
import { temporal } from '@temporalio/proto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { listEvents } from '../lib/events/feed';
import { recordEvent } from '../lib/events/outbox';
import { ensureOutboxRelay, listenForOutboxCommits } from '../lib/events/relayRuns';
import { countOutboxBacklog } from '../lib/events/store';
import { outboxRelayWorkflowId } from '../workflows/events/definitions';
import { startTestService, type TestContext } from './support/context';
import { waitUntil } from './support/processes';

const { EventType } = temporal.api.enums.v1;

/** A hub that refuses (400, with a reason) every event whose data says `poison`, and takes the rest. */
async function startJudgingHub() {
  const received: Array<{ id: string; subject: string; n: number }> = [];
  let refused = 0;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      const body = JSON.parse(text);
      if (body.data?.poison) {
        refused++;
        res.writeHead(400, { 'content-type': 'text/plain' }).end('data.n: not a schema this hub knows');
        return;
      }
      received.push({ id: body.id, subject: body.subject, n: body.data?.n });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    received,
    refused: () => refused,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const relayOf = (ctx: TestContext) => ctx.temporal.client.workflow.getHandle(outboxRelayWorkflowId(ctx.config.temporal.taskQueue));

async function stopAll(ctx: TestContext, hub: { stop(): Promise<void> }) {
  await relayOf(ctx)
    .terminate('test over')
    .catch(() => {});
  await ctx.stop();
  await hub.stop();
}

it('an event the hub refuses with a 4xx is parked with its answer after its attempts, and the later events of its subject are delivered', async () => {
  const hub = await startJudgingHub();
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url, STORAGE_OUTBOX_PARK_AFTER_ATTEMPTS: '2' });
  try {
    await ctx.db.transaction(async (trx) => {
      await recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 1, poison: true });
      await recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 2 });
      await recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 3 });
      await recordEvent(trx, 'storage.asset.updated', 'subject-b', { n: 4 });
    });
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);

    await waitUntil('the events after the refused one delivered', async () => hub.received.length >= 3, 30_000);
    expect(hub.received.filter((e) => e.subject === 'subject-a').map((e) => e.n)).toEqual([2, 3]);
    expect(hub.refused()).toBe(2);
    const parked = await ctx.db('outbox_events').whereRaw(`data->>'poison' = 'true'`).first();
    expect(parked).toMatchObject({ delivered_at: null, attempts: 2, last_error: 'the hub answered 400: data.n: not a schema this hub knows' });
    expect(parked.parked_at).toBeInstanceOf(Date);
    // Counted: among the failing events (the gauge storage_outbox_failing_events), and as parked.
    expect(await countOutboxBacklog(ctx.db)).toEqual({ pending: 1, failing: 1, parked: 1 });
  } finally {
    await stopAll(ctx, hub);
  }
}, 60_000);

it('the listener reconnects after its connection is cut: a later commit still wakes the relay at once', async () => {
  const hub = await startJudgingHub();
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url });
  const stopListening = await listenForOutboxCommits(ctx.config.database.url, ctx.temporal.client, ctx.config.temporal.taskQueue, ctx.logger);
  const listenerPids = () =>
    ctx.db('pg_stat_activity').where({ application_name: 'storage-outbox-listener' }).whereRaw('datname = current_database()').pluck('pid');
  try {
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 1 }));
    await waitUntil('the first event delivered', async () => hub.received.length === 1, 20_000);
    // The relay has nothing left: it sleeps for its idle 30 s, until a wake.
    await waitUntil('the relay asleep', async () => {
      const events = (await relayOf(ctx).fetchHistory()).events!;
      return events[events.length - 1].eventType === EventType.EVENT_TYPE_TIMER_STARTED;
    });

    const [cut] = await listenerPids();
    expect(cut).toBeDefined();
    await ctx.db.raw('SELECT pg_terminate_backend(?)', [cut]);
    await waitUntil('the cut connection gone', async () => !(await listenerPids()).includes(cut));
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 2 }));

    await waitUntil('the later event delivered promptly (not at the relay’s idle timer)', async () => hub.received.length === 2, 8_000);
    expect(await listenerPids()).toHaveLength(1);
  } finally {
    await stopListening();
    await stopAll(ctx, hub);
  }
}, 60_000);

it('a long transaction in another database of the server does not hold back this service’s events', async () => {
  const hub = await startJudgingHub();
  const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url });
  const elsewhere = new URL(ctx.config.database.url);
  elsewhere.pathname = '/postgres';
  const other = new pg.Client({ connectionString: elsewhere.toString(), application_name: 'storage-test-long-transaction' });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT pg_current_xact_id()');
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', 'subject-a', { n: 1 }));
    await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);

    const page = await waitUntil(
      'the event in the feed',
      async () => {
        const events = await listEvents(ctx.db, { limit: 10 });
        return events.items.length === 1 && events;
      },
      10_000,
    );
    expect(page.items[0].data).toEqual({ n: 1 });
    await waitUntil('the event delivered', async () => hub.received.length === 1, 10_000);
  } finally {
    await other.query('ROLLBACK').catch(() => {});
    await other.end();
    await stopAll(ctx, hub);
  }
}, 60_000);
