import { Context } from '@temporalio/activity';
import { CloudEvent, HTTP } from 'cloudevents';
import { SETTLED, toCloudEvent, type OutboxRow } from '../lib/events';
import type { ActivityDeps } from './deps';

const BATCH = 100;
const IDLE_MS = 10_000;

/**
 * Delivers pending outbox events to the Message Hub: at least once, in order per subject (an event
 * waits while an earlier one of its subject is pending), each failure pushing its next attempt back
 * exponentially up to STORAGE_OUTBOX_RETRY_MAX_SECONDS.
 */
export function createOutboxActivities({ config, db }: ActivityDeps) {
  const hubUrl = config.messageHubUrl;

  async function post(row: OutboxRow): Promise<void> {
    const message = HTTP.structured(new CloudEvent({ ...toCloudEvent(row), specversion: '1.0' }, false));
    const res = await fetch(hubUrl!, {
      method: 'POST',
      headers: message.headers as Record<string, string>,
      body: message.body as string,
      signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`the hub answered ${res.status}`);
  }

  return {
    /** One pass: delivers what is due; says how long the relay may sleep before the next pass. */
    async deliverPendingEvents(): Promise<{ delivered: number; failed: number; sleepMs: number }> {
      if (!hubUrl) return { delivered: 0, failed: 0, sleepMs: IDLE_MS };
      const due = (await db('outbox_events as e')
        .select('e.*')
        .whereNull('e.delivered_at')
        .where('e.next_attempt_at', '<=', db.fn.now())
        .whereRaw(SETTLED)
        .whereNotExists(
          db('outbox_events as p').whereRaw('p.subject = e.subject').whereNull('p.delivered_at').whereRaw('p.sequence < e.sequence'),
        )
        .orderBy('e.sequence')
        .limit(BATCH)) as OutboxRow[];

      let delivered = 0;
      let failed = 0;
      for (const row of due) {
        Context.current().heartbeat({ sequence: row.sequence });
        try {
          await post(row);
          await db('outbox_events').where({ sequence: row.sequence }).update({ delivered_at: db.fn.now(), attempts: row.attempts + 1, last_error: null });
          delivered++;
        } catch (err) {
          const backoffSeconds = Math.min(2 ** row.attempts, config.events.retryMaxSeconds);
          await db('outbox_events')
            .where({ sequence: row.sequence })
            .update({
              attempts: row.attempts + 1,
              last_error: (err as Error).message.slice(0, 1000),
              next_attempt_at: db.raw(`now() + make_interval(secs => ?)`, [backoffSeconds]),
            });
          failed++;
        }
      }
      if (due.length === BATCH) return { delivered, failed, sleepMs: 0 };
      const next = await db('outbox_events').whereNull('delivered_at').min({ at: 'next_attempt_at' }).first();
      const untilNext = next?.at ? new Date(next.at).getTime() - Date.now() : IDLE_MS;
      return { delivered, failed, sleepMs: Math.max(0, Math.min(untilNext, IDLE_MS)) };
    },
  };
}

export type OutboxActivities = ReturnType<typeof createOutboxActivities>;
