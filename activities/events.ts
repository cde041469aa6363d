/**
 * Delivers pending outbox events to the Message Hub: at least once, in order per subject (only the
 * head of a subject, its lowest pending sequence, may go), each failure pushing its next attempt back
 * exponentially up to STORAGE_OUTBOX_RETRY_MAX_SECONDS. While the hub is unavailable the relay backs off
 * as a whole: each pass sends one probe, and only a probe the hub takes lets the rest go.
 *
 * An event the hub refuses (a 4xx that judges the event: 400, 409, 413, 422, ...) backs off alone; the
 * refusal at its STORAGE_OUTBOX_PARK_AFTER_ATTEMPTS-th attempt parks it (parked_at, the hub's answer in
 * last_error), so the later events of its subject go on. It stays in the feed and counts among the
 * failing events until retention removes it. An answer that judges the caller instead (401, 403, 404,
 * 405, 407: a wrong URL or credentials) is an unavailable hub: nothing is parked for it.
 */
import { Context } from '@temporalio/activity';
import { CloudEvent, HTTP } from 'cloudevents';
import { toCloudEvent } from '../lib/events/feed';
import {
  makeWaitingEventsDue,
  markEventAttemptFailed,
  markEventDelivered,
  markEventParked,
  selectHeadsTiming,
  selectSettledHeads,
  type OutboxRow,
} from '../lib/events/store';
import type { ActivityDeps } from './deps';

const BATCH = 100;
/** A safety net only: the wake signal brings new events at once. */
const IDLE_MS = 30_000;
/** An unsettled event goes once the older transactions of this database end, which nothing announces. */
const UNSETTLED_MS = 1_000;
/** While the hub is down it is probed at most this often, so that its return is noticed within as long. */
const PROBE_MAX_MS = 15_000;
/** Answers that say the hub cannot take any event now, or not from this caller: the relay backs off as a whole. */
const UNAVAILABLE_STATUSES = new Set([401, 403, 404, 405, 407, 408, 429]);
/** How much of a refusal's body is kept with the event. */
const ANSWER_CHARS = 300;

export type OutboxDeps = Pick<ActivityDeps, 'config' | 'db'>;

export interface RelayPass {
  delivered: number;
  failed: number;
  sleepMs: number;
  /** Passes in a row that ended on an unavailable hub: the next pass probes first and `sleepMs` is the relay's backoff. */
  failedProbes: number;
}

type Outcome = 'delivered' | 'refused' | 'unavailable';

/** Posts one event: says whether the hub took it, refused this event, or cannot take any now. */
async function post(hubUrl: string, row: OutboxRow): Promise<{ outcome: 'delivered' } | { outcome: 'refused' | 'unavailable'; error: string }> {
  const message = HTTP.structured(new CloudEvent({ ...toCloudEvent(row), specversion: '1.0' }, false));
  let res: Response;
  let answer: string;
  try {
    res = await fetch(hubUrl, {
      method: 'POST',
      headers: message.headers as Record<string, string>,
      body: message.body as string,
      signal: AbortSignal.timeout(10_000),
    });
    answer = (await res.text()).trim().slice(0, ANSWER_CHARS);
  } catch (err) {
    return { outcome: 'unavailable', error: `the hub did not answer: ${(err as Error).message}` };
  }
  if (res.ok) return { outcome: 'delivered' };
  // Any other 4xx says the hub is up and judged this event.
  const unavailable = res.status >= 500 || UNAVAILABLE_STATUSES.has(res.status);
  return { outcome: unavailable ? 'unavailable' : 'refused', error: `the hub answered ${res.status}${answer ? `: ${answer}` : ''}` };
}

/**
 * Sends one event and records the outcome on its row: a failure pushes its next attempt back, a
 * refusal at its last allowed attempt parks it.
 */
async function attempt({ config, db }: OutboxDeps, row: OutboxRow): Promise<Outcome> {
  Context.current().heartbeat({ sequence: row.sequence });
  const result = await post(config.messageHubUrl!, row);
  if (result.outcome === 'delivered') await markEventDelivered(db, row);
  else if (result.outcome === 'refused' && row.attempts + 1 >= config.events.parkAfterAttempts) await markEventParked(db, row, result.error);
  else await markEventAttemptFailed(db, row, result.error, Math.min(2 ** row.attempts, config.events.retryMaxSeconds));
  return result.outcome;
}

/** The relay's own backoff after `failedProbes` unavailable passes in a row. */
function relayBackoffMs({ config }: OutboxDeps, failedProbes: number): number {
  return Math.min(1000 * 2 ** (failedProbes - 1), PROBE_MAX_MS, 1000 * config.events.retryMaxSeconds);
}

/** How long until a settled head is due; a short wait if some head is not settled yet. Both on the database's clock. */
async function untilNextDue({ db }: OutboxDeps): Promise<number> {
  const { due_in_ms, unsettled } = await selectHeadsTiming(db);
  const dueInMs = due_in_ms === null ? IDLE_MS : Math.max(0, Math.ceil(Number(due_in_ms)));
  return Math.min(dueInMs, unsettled ? UNSETTLED_MS : IDLE_MS);
}

/**
 * During an outage, one head goes first whether or not it is due: the relay's backoff, not the event's,
 * says when to try. Answers its outcome (none: nothing is pending).
 */
async function probe(deps: OutboxDeps): Promise<Outcome | undefined> {
  const [head] = await selectSettledHeads(deps.db, 1, false);
  if (!head) return undefined;
  const outcome = await attempt(deps, head);
  // The hub is back: the heads that waited through the outage go now, not after their own backoff.
  if (outcome !== 'unavailable') await makeWaitingEventsDue(deps.db);
  return outcome;
}

/** One pass: delivers what is due; says how long the relay may sleep before the next pass. */
async function deliverPendingEvents(deps: OutboxDeps, failedProbes = 0): Promise<RelayPass> {
  if (!deps.config.messageHubUrl) return { delivered: 0, failed: 0, sleepMs: IDLE_MS, failedProbes: 0 };
  let delivered = 0;
  let failed = 0;
  const count = (outcome: Outcome) => (outcome === 'delivered' ? delivered++ : failed++);
  if (failedProbes > 0) {
    const outcome = await probe(deps);
    if (outcome) count(outcome);
    if (outcome === 'unavailable') return { delivered, failed, sleepMs: relayBackoffMs(deps, failedProbes + 1), failedProbes: failedProbes + 1 };
  }
  for (;;) {
    const due = await selectSettledHeads(deps.db, BATCH - delivered - failed, true);
    if (due.length === 0) return { delivered, failed, sleepMs: await untilNextDue(deps), failedProbes: 0 };
    for (const row of due) {
      const outcome = await attempt(deps, row);
      count(outcome);
      // An unavailable hub ends the pass: the rest wait for the next probe instead of each being refused.
      if (outcome === 'unavailable') return { delivered, failed, sleepMs: relayBackoffMs(deps, 1), failedProbes: 1 };
    }
    if (delivered + failed >= BATCH) return { delivered, failed, sleepMs: 0, failedProbes: 0 };
  }
}

export function createOutboxActivities(deps: ActivityDeps) {
  return {
    deliverPendingEvents: (failedProbes = 0) => deliverPendingEvents(deps, failedProbes),
  };
}

export type OutboxActivities = ReturnType<typeof createOutboxActivities>;
