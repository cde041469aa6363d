/**
 * Bringing the system to rest before judging it: every process serving, the sessions the clients left
 * open ended (as a client gives up), then waiting, bounded, for every session, run and workflow of the
 * task queue to finish. What has not settled by the bound is itself a finding.
 */
import pg from 'pg';
import type { TestContext } from '../support/context';
import { STAGING_BOUND_MS, untilServing, type Cluster } from './cluster';
import type { History } from './history';
import { send } from './http';
import type { SessionFate } from './model';
import { openedSessions } from './uploads';

export const SETTLE_MS = 180_000;

export async function query<T = any>(ctx: TestContext, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: ctx.config.database.url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** The sessions a client opened and left open: ended as the client would (DELETE), by the admin. */
export async function abandonLeftovers(ctx: TestContext, cluster: Cluster, adminToken: string): Promise<number> {
  const open = await query<{ id: string; kind: string }>(ctx, `SELECT id, kind FROM upload_sessions WHERE status = 'open' AND id = ANY($1::uuid[])`, [
    [...openedSessions],
  ]);
  for (const { id, kind } of open) {
    const url = kind === 'tus' ? `${cluster.apis[0].url}/api/v2/tus/${id}` : `${cluster.apis[0].url}/api/v2/uploads/${id}`;
    await send(url, adminToken, `cc-quiet-abort-${id}`, { method: 'DELETE', headers: { 'tus-resumable': '1.0.0' } });
  }
  return open.length;
}

export interface Unsettled {
  sessions: Array<{ id: string; status: string; kind: string; updated_at: string }>;
  runs: Array<{ id: string; status: string }>;
  workflows: string[];
}

export async function unsettled(ctx: TestContext): Promise<Unsettled> {
  const sessions = await query(ctx, `SELECT id, status, kind, updated_at FROM upload_sessions WHERE status IN ('open', 'completing') ORDER BY created_at`);
  const runs = await query(ctx, `SELECT id, status FROM lifecycle_runs WHERE status IN ('pending', 'running')`);
  const workflows: string[] = [];
  const listing = ctx.temporal.client.workflow.list({ query: `TaskQueue = '${ctx.config.temporal.taskQueue}' AND ExecutionStatus = 'Running'` });
  // The outbox relay runs for as long as its worker's task queue exists.
  for await (const wf of listing) if (!wf.workflowId.startsWith('outbox-relay')) workflows.push(await describeRun(ctx, wf.workflowId, wf.type));
  return { sessions, runs, workflows };
}

/** A running workflow and what it waits on (its pending activities, their attempts and last failures). */
async function describeRun(ctx: TestContext, workflowId: string, type: string): Promise<string> {
  const { raw } = await ctx.temporal.client.workflow.getHandle(workflowId).describe();
  const pending = (raw.pendingActivities ?? []).map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? 'no failure'}`);
  const [session] = workflowId.startsWith('upload-')
    ? await query(ctx, 'SELECT kind, status, error FROM upload_sessions WHERE id = $1', [workflowId.slice('upload-'.length)])
    : [];
  return `${workflowId} (${type}) session ${session ? JSON.stringify(session) : 'none'}, pending: ${pending.join('; ') || 'none'}`;
}

const isSettled = (u: Unsettled) => u.sessions.length === 0 && u.runs.length === 0 && u.workflows.length === 0;

/** Waits for rest; answers what was still moving at the bound, or undefined once all is still. */
export async function settle(ctx: TestContext, cluster: Cluster, history: History, adminToken: string): Promise<Unsettled | undefined> {
  await untilServing(ctx, cluster);
  // The clients have stopped: the sessions they left open are theirs to give up, as a client would.
  const n = await abandonLeftovers(ctx, cluster, adminToken);
  history.end(history.begin({ client: -1, index: 0, kind: 'quiet:abandon', value: `${n} sessions` }), 200);
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const state = await unsettled(ctx);
    if (isSettled(state)) return undefined;
    if (Date.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What became of every session a client started (to resolve 202s and unanswered uploads). */
export async function sessionFates(ctx: TestContext, history: History): Promise<Map<string, SessionFate>> {
  const ids = history.entries.map((e) => e.upload?.uploadId).filter(Boolean);
  const rows = await query<SessionFate & { id: string }>(
    ctx,
    'SELECT id, status, COALESCE(asset_id, result_asset_id) AS asset_id, version_id, error FROM upload_sessions WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r]));
}

/** Writes the fates into the entries they resolve: the asset and version a 202 upload committed. */
export function resolveFates(history: History, fates: Map<string, SessionFate>): void {
  for (const e of history.entries) {
    const fate = e.upload?.uploadId ? fates.get(e.upload.uploadId) : undefined;
    if (!fate || fate.status !== 'completed') continue;
    e.upload!.assetId ??= fate.asset_id ?? undefined;
    e.upload!.versionId ??= fate.version_id ?? undefined;
    e.assetId ??= e.upload!.assetId;
  }
}

const SWEEP_MS = 180_000;

/**
 * What the daily lifecycle run would do once the system is at rest: abort the multipart uploads an API
 * that died while staging left (no session row names them), once no API can still be at them
 * (STAGING_BOUND_MS after the clients stopped). Answers the run's status ('unanswered' if it never ended).
 */
export async function sweepAsScheduled(cluster: Cluster, history: History, adminToken: string, clientsStoppedAt: number): Promise<string> {
  const entry = history.begin({ client: -1, index: 1, kind: 'quiet:lifecycle', value: 'after the staging bound' });
  await new Promise((r) => setTimeout(r, Math.max(0, clientsStoppedAt + STAGING_BOUND_MS - Date.now())));
  const started = await send(`${cluster.apis[0].url}/api/v2/lifecycle/runs`, adminToken, 'cc-quiet-lifecycle', { method: 'POST', json: { dry_run: false } });
  let status = started.status === 202 ? String(started.body.status) : `refused ${started.status}`;
  const deadline = Date.now() + SWEEP_MS;
  while (started.status === 202 && (status === 'pending' || status === 'running') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const read = await send(`${cluster.apis[0].url}/api/v2/lifecycle/runs/${started.body.id}`, adminToken, 'cc-quiet-lifecycle-read');
    if (read.status === 200) status = String(read.body.status);
  }
  history.end(entry, started.status, status);
  return status;
}
