import { Context } from '@temporalio/activity';
import { CloudEvent, HTTP } from 'cloudevents';
import { SETTLED, toCloudEvent, type OutboxRow } from '../lib/events/feed';
import type { ActivityDeps } from './deps';

const BATCH = 100;
/** A safety net only: the wake signal brings new events at once. */
const IDLE_MS = 30_000;
/** An unsettled event goes once the older transactions of the cluster end, which nothing announces. */
const UNSETTLED_MS = 1_000;
/** While the hub is down it is probed at most this often, so that its return is noticed within as long. */
const PROBE_MAX_MS = 15_000;

export interface RelayPass {
  delivered: number;
  failed: number;
  sleepMs: number;
  /** Passes in a row that ended on an unavailable hub: the next pass probes first and `sleepMs` is the relay's backoff. */
  failedProbes: number;
}

/**
 * Delivers pending outbox events to the Message Hub: at least once, in order per subject (only the
 * head of a subject, its lowest pending sequence, may go), each failure pushing its next attempt back
 * exponentially up to STORAGE_OUTBOX_RETRY_MAX_SECONDS. While the hub is unavailable the relay backs off
 * as a whole: each pass sends one probe, and only a probe the hub takes lets the rest go.
 */
export function createOutboxActivities({ config, db }: ActivityDeps) {
  const hubUrl = config.messageHubUrl;

  /** Posts one event: says whether the hub took it, refused this event, or cannot take any now. */
  async function post(row: OutboxRow): Promise<{ outcome: 'delivered' } | { outcome: 'refused' | 'unavailable'; error: string }> {
    const message = HTTP.structured(new CloudEvent({ ...toCloudEvent(row), specversion: '1.0' }, false));
    let res: Response;
    try {
      res = await fetch(hubUrl!, {
        method: 'POST',
        headers: message.headers as Record<string, string>,
        body: message.body as string,
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
    } catch (err) {
      return { outcome: 'unavailable', error: `the hub did not answer: ${(err as Error).message}` };
    }
    if (res.ok) return { outcome: 'delivered' };
    // A hub that answers 4xx is up and judged this event; 5xx, 408 and 429 say it cannot take any now.
    const unavailable = res.status >= 500 || res.status === 408 || res.status === 429;
    return { outcome: unavailable ? 'unavailable' : 'refused', error: `the hub answered ${res.status}` };
  }

  /** Pending events with no earlier pending event of their subject. */
  function heads() {
    return db('outbox_events as e')
      .whereNull('e.delivered_at')
      .whereNotExists(db('outbox_events as p').whereRaw('p.subject = e.subject').whereNull('p.delivered_at').whereRaw('p.sequence < e.sequence'));
  }

  /** Settled heads, the most overdue first; with `dueOnly`, only those whose next attempt has come. */
  function candidates(limit: number, dueOnly: boolean) {
    const query = heads().select('e.*').whereRaw(SETTLED);
    if (dueOnly) query.where('e.next_attempt_at', '<=', db.fn.now());
    return query.orderBy([{ column: 'e.next_attempt_at' }, { column: 'e.sequence' }]).limit(limit) as Promise<OutboxRow[]>;
  }

  /** Sends one event and records the outcome on its row (a failure pushes its next attempt back). */
  async function attempt(row: OutboxRow): Promise<'delivered' | 'refused' | 'unavailable'> {
    Context.current().heartbeat({ sequence: row.sequence });
    const result = await post(row);
    if (result.outcome === 'delivered') {
      await db('outbox_events')
        .where({ sequence: row.sequence })
        .update({ delivered_at: db.fn.now(), attempts: row.attempts + 1, last_error: null });
    } else {
      const backoffSeconds = Math.min(2 ** row.attempts, config.events.retryMaxSeconds);
      await db('outbox_events')
        .where({ sequence: row.sequence })
        .update({
          attempts: row.attempts + 1,
          last_error: result.error.slice(0, 1000),
          next_attempt_at: db.raw(`now() + make_interval(secs => ?)`, [backoffSeconds]),
        });
    }
    return result.outcome;
  }

  /** The relay's own backoff after `failedProbes` unavailable passes in a row. */
  const relayBackoffMs = (failedProbes: number) => Math.min(1000 * 2 ** (failedProbes - 1), PROBE_MAX_MS, 1000 * config.events.retryMaxSeconds);

  /** How long until a settled head is due; a short wait if some head is not settled yet. Both on the database's clock. */
  async function untilNextDue(): Promise<number> {
    const { due_in_ms, unsettled } = await db
      .from(
        heads()
          .select('e.next_attempt_at', db.raw(`${SETTLED} AS settled`))
          .as('h'),
      )
      .first(
        db.raw(`extract(epoch FROM min(h.next_attempt_at) FILTER (WHERE h.settled) - now()) * 1000 AS due_in_ms`),
        db.raw(`coalesce(bool_or(NOT h.settled), false) AS unsettled`),
      );
    const dueInMs = due_in_ms === null ? IDLE_MS : Math.max(0, Math.ceil(Number(due_in_ms)));
    return Math.min(dueInMs, unsettled ? UNSETTLED_MS : IDLE_MS);
  }

  return {
    /** One pass: delivers what is due; says how long the relay may sleep before the next pass. */
    async deliverPendingEvents(failedProbes = 0): Promise<RelayPass> {
      if (!hubUrl) return { delivered: 0, failed: 0, sleepMs: IDLE_MS, failedProbes: 0 };
      let delivered = 0;
      let failed = 0;
      const count = (outcome: 'delivered' | 'refused' | 'unavailable') => (outcome === 'delivered' ? delivered++ : failed++);
      if (failedProbes > 0) {
        // During an outage the probe need not be due: the relay's backoff, not the event's, says when to try.
        const [probe] = await candidates(1, false);
        if (probe) {
          const outcome = await attempt(probe);
          count(outcome);
          if (outcome === 'unavailable') return { delivered, failed, sleepMs: relayBackoffMs(failedProbes + 1), failedProbes: failedProbes + 1 };
          // The hub is back: the heads that waited through the outage go now, not after their own backoff.
          await db('outbox_events').whereNull('delivered_at').where('next_attempt_at', '>', db.fn.now()).update({ next_attempt_at: db.fn.now() });
        }
      }
      for (;;) {
        const due = await candidates(BATCH - delivered - failed, true);
        if (due.length === 0) return { delivered, failed, sleepMs: await untilNextDue(), failedProbes: 0 };
        for (const row of due) {
          const outcome = await attempt(row);
          count(outcome);
          // An unavailable hub ends the pass: the rest wait for the next probe instead of each being refused.
          if (outcome === 'unavailable') return { delivered, failed, sleepMs: relayBackoffMs(1), failedProbes: 1 };
        }
        if (delivered + failed >= BATCH) return { delivered, failed, sleepMs: 0, failedProbes: 0 };
      }
    },
  };
}

export type OutboxActivities = ReturnType<typeof createOutboxActivities>;
