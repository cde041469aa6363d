/**
 * Where an upload's time goes, read from its workflow's history: the client's own start and end
 * (wall clock, same machine) around the events Temporal recorded. For a simple upload:
 *
 *   open      request sent -> `opened` update completed (workflow start, first workflow task,
 *             openUpload, the update-with-start answer); for a simple upload, whose run is started
 *             without waiting for its open, request sent -> run started
 *   staging   session open -> `complete` update received (the workflow task it woke was scheduled):
 *             the API streaming the bytes to S3 (for a chunked upload: the parts and the API's part checks)
 *   finalize  update received -> update completed: markCompleting, assembleParts (chunked), the
 *             check of the stored object, commitUpload and the workflow tasks between them
 *             (local activities run inside workflow tasks, so they count as orchestration here)
 *   answer    update completed -> response received: the API reading the asset and answering
 *
 * and each activity's time from scheduled to completed (queue wait included).
 */
import type { Client } from '@temporalio/client';
import type { Db } from '../lib/platform/db';
import { uploadWorkflowId } from '../lib/uploads/sessions';
import { completeUpdate, openedUpdate } from '../workflows/uploads/definitions';
import { median, round } from './stats';

export interface TimedUpload {
  versionId: string;
  startedAtMs: number;
  endedAtMs: number;
}

export interface Breakdown {
  uploads: number;
  /** Medians, in ms. */
  total_ms: number;
  phases_ms: Record<'open' | 'staging' | 'finalize' | 'answer', number>;
  activities_ms: Record<string, number>;
  /** finalize minus the activities inside it: workflow tasks and Temporal round trips. */
  finalize_orchestration_ms: number;
  workflow_tasks: number;
  /** Events in the run's history: what the server wrote for one upload. */
  history_events: number;
}

type Ts = { seconds?: unknown; nanos?: number | null } | null | undefined;
const ms = (t: Ts) => (t ? Number(String(t.seconds ?? 0)) * 1000 + (t.nanos ?? 0) / 1e6 : Number.NaN);
const num = (v: unknown) => Number(String(v));

interface OneBreakdown {
  total: number;
  phases: Breakdown['phases_ms'];
  activities: Record<string, number>;
  finalizeActivities: number;
  workflowTasks: number;
  historyEvents: number;
}

async function one(client: Client, uploadId: string, timed: TimedUpload): Promise<OneBreakdown> {
  const history = await client.workflow.getHandle(uploadWorkflowId(uploadId)).fetchHistory();
  const events = history.events ?? [];
  const scheduled = new Map<number, { name: string; at: number }>();
  const activities: Record<string, number> = {};
  let openDone = Number.NaN;
  let runStarted = Number.NaN;
  let accepted = Number.NaN;
  let completed = Number.NaN;
  let workflowTasks = 0;
  let taskScheduled = Number.NaN;
  let completeUpdateId: string | undefined;
  let openedUpdateId: string | undefined;
  const spans: { name: string; from: number; to: number }[] = [];
  for (const e of events) {
    const at = ms(e.eventTime as Ts);
    if (e.workflowExecutionStartedEventAttributes) {
      runStarted = at;
    } else if (e.activityTaskScheduledEventAttributes) {
      scheduled.set(num(e.eventId), { name: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
    } else if (e.activityTaskCompletedEventAttributes) {
      const s = scheduled.get(num(e.activityTaskCompletedEventAttributes.scheduledEventId));
      if (s) {
        activities[s.name] = (activities[s.name] ?? 0) + (at - s.at);
        spans.push({ name: s.name, from: s.at, to: at });
      }
    } else if (e.workflowExecutionUpdateAcceptedEventAttributes) {
      // The first `complete` update the workflow accepted, whatever its id.
      const req = e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest;
      if (openedUpdateId === undefined && req?.input?.name === openedUpdate.name) openedUpdateId = req.meta?.updateId ?? undefined;
      if (completeUpdateId === undefined && req?.input?.name === completeUpdate.name) {
        completeUpdateId = req.meta?.updateId ?? undefined;
        // Recorded when the task that accepted it completes, which may be after the whole finalize
        // (local activities run inside that task): the update arrived when that task was scheduled.
        accepted = Number.isNaN(taskScheduled) ? at : taskScheduled;
      }
    } else if (e.workflowExecutionUpdateCompletedEventAttributes) {
      const updateId = e.workflowExecutionUpdateCompletedEventAttributes.meta?.updateId;
      if (openedUpdateId !== undefined && updateId === openedUpdateId) openDone = at;
      if (completeUpdateId !== undefined && updateId === completeUpdateId) completed = at;
    } else if (e.workflowTaskCompletedEventAttributes) {
      workflowTasks++;
    } else if (e.workflowTaskScheduledEventAttributes) {
      taskScheduled = at;
    }
  }
  if (openedUpdateId === undefined) openDone = runStarted;
  const finalizeActivities = spans.filter((s) => s.from >= accepted && s.to <= completed).reduce((sum, s) => sum + (s.to - s.from), 0);
  return {
    total: timed.endedAtMs - timed.startedAtMs,
    phases: {
      open: openDone - timed.startedAtMs,
      staging: accepted - openDone,
      finalize: completed - accepted,
      answer: timed.endedAtMs - completed,
    },
    activities,
    finalizeActivities,
    workflowTasks,
    historyEvents: events.length,
  };
}

/** Breakdowns of (at most `limit` of) the given uploads, as medians. */
export async function breakdownOf(client: Client, db: Db, uploads: TimedUpload[], limit = 20): Promise<Breakdown | undefined> {
  const picked = uploads.slice(-limit);
  if (picked.length === 0) return undefined;
  const rows = (await db('upload_sessions')
    .whereIn(
      'version_id',
      picked.map((u) => u.versionId),
    )
    .select('id', 'version_id')) as { id: string; version_id: string }[];
  const idOf = new Map(rows.map((r) => [r.version_id, r.id]));
  const all: OneBreakdown[] = [];
  for (const u of picked) {
    const id = idOf.get(u.versionId);
    if (id) all.push(await one(client, id, u));
  }
  if (all.length === 0) return undefined;
  const med = (f: (b: OneBreakdown) => number) => round(median(all.map(f).filter(Number.isFinite)), 1);
  const names = [...new Set(all.flatMap((b) => Object.keys(b.activities)))];
  const finalize = med((b) => b.phases.finalize);
  return {
    uploads: all.length,
    total_ms: med((b) => b.total),
    phases_ms: {
      open: med((b) => b.phases.open),
      staging: med((b) => b.phases.staging),
      finalize,
      answer: med((b) => b.phases.answer),
    },
    activities_ms: Object.fromEntries(names.map((n) => [n, med((b) => b.activities[n] ?? 0)])),
    finalize_orchestration_ms: round(
      med((b) => b.phases.finalize - b.finalizeActivities),
      1,
    ),
    workflow_tasks: med((b) => b.workflowTasks),
    history_events: med((b) => b.historyEvents),
  };
}

export function describeBreakdown(b: Breakdown): string {
  const p = b.phases_ms;
  const acts = Object.entries(b.activities_ms)
    .map(([n, v]) => `${n} ${v}`)
    .join(', ');
  return (
    `median of ${b.uploads}: total ${b.total_ms} ms = open ${p.open} + staging ${p.staging} + finalize ${p.finalize} + answer ${p.answer}; ` +
    `activities (scheduled to completed): ${acts}; finalize outside activities ${b.finalize_orchestration_ms}; ${b.workflow_tasks} workflow tasks, ${b.history_events} history events`
  );
}
