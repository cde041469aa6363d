/**
 * Issue 17's rows 13 and 14: the mixed load (bench/mixedLoad.ts) of 1,000 clients against the bench's
 * API and worker, then through the round-robin proxy in front of two APIs and two workers while each
 * is restarted in turn with SIGTERM and one worker is SIGKILLed. One run each: the figures are the
 * run's, and the targets are about errors, which one run shows.
 */
import { temporal } from '@temporalio/proto';
import os from 'node:os';
import { startRoundRobinProxy } from '../scripts/roundRobinProxy';
import { freePorts } from '../scripts/stack';
import { authHeaders } from './client';
import type { ServiceChild } from './env';
import { mintDevToken } from '../lib/auth/devTokens';
import { KINDS, describeMixed, prepareAssets, runMixedLoad, verifyUploads, type MixedLoadResult, type PreparedAssets, type VerifyResult } from './mixedLoad';
import { summary, type MetricResult, type RowContext, type RowResult } from './rows';
import { round } from './stats';

export interface MixedSettings {
  clients: number;
  durationS: number;
}

export function mixedSettingsFor(quick: boolean): MixedSettings {
  return quick ? { clients: 20, durationS: 3 } : { clients: 1000, durationS: 30 };
}

function benchToken(): string {
  const { authorization } = authHeaders();
  if (!authorization) throw new Error('the bench has no token (bench/env.ts useToken)');
  return authorization.replace(/^Bearer /, '');
}

const one = (v: number, unit: string): MetricResult => ({ unit, service: summary([v]) });

function metricsOf(load: MixedLoadResult): Record<string, MetricResult> {
  const metrics: Record<string, MetricResult> = { requests_per_s: one(round(load.requests / load.seconds, 1), 'req/s') };
  for (const k of KINDS) {
    metrics[`${k}_per_s`] = one(load.kinds[k].per_s, 'req/s');
    metrics[`${k}_p50_ms`] = one(load.kinds[k].p50_ms, 'ms');
    metrics[`${k}_p99_ms`] = one(load.kinds[k].p99_ms, 'ms');
  }
  metrics.errors = one(load.total_errors, 'requests');
  return metrics;
}

const loadDetails = ({ uploads: _uploads, refused_uploads: _refused, ...rest }: MixedLoadResult) => rest;

function sayLoad(ctx: RowContext, label: string, load: MixedLoadResult) {
  ctx.say(`${label}: ${describeMixed(load)}`);
  for (const [sample, n] of Object.entries(load.error_samples)) ctx.say(`${label} error x${n}: ${sample}`);
}

function sayVerified(ctx: RowContext, label: string, verify: VerifyResult) {
  ctx.say(
    `${label}: ${verify.verified} uploads verified, ${verify.lost.length} lost${verify.lost.length ? `: ${JSON.stringify(verify.lost.slice(0, 5))}` : ''}`,
  );
}

/**
 * The load's users: each client is a user of its own (its uploads are its own, charged to its own
 * quota), reading the prepared assets through a group grant, as the players of one campaign would.
 * With one identity for all, every upload would queue on that one owner's usage row (BENCHMARKS.md).
 */
async function usersOf(ctx: RowContext, apiUrl: string, prepared: PreparedAssets, clients: number): Promise<string[]> {
  const group = 'bench-mixed-readers';
  const admin = benchToken();
  for (const id of [...prepared.metadataIds, prepared.contentId, prepared.downloadId]) {
    const res = await fetch(`${apiUrl}/api/v2/assets/${id}/grants`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ subject: `group:${group}`, access: 'read' }]),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`granting ${id} to ${group}: ${res.status}`);
  }
  return Promise.all(Array.from({ length: clients }, (_, i) => mintDevToken(ctx.env.config.auth, { sub: `bench-user-${i}`, groups: [group] })));
}

/** Row 13: the mixed load against the bench's API and worker. */
export async function rowMixedLoad(ctx: RowContext, settings: MixedSettings): Promise<RowResult> {
  const { env } = ctx;
  const token = benchToken();
  const prepared = await prepareAssets(env.apiUrl, token);
  const users = await usersOf(ctx, env.apiUrl, prepared, settings.clients);
  const loadavgBefore = os.loadavg().map((v) => round(v, 2));
  const load = await runMixedLoad({ url: env.apiUrl, token: users, clients: settings.clients, durationS: settings.durationS }, prepared);
  const loadavgAfter = os.loadavg().map((v) => round(v, 2));
  const verify = await verifyUploads(env.apiUrl, token, load.uploads);
  sayLoad(ctx, 'row 13', load);
  sayVerified(ctx, 'row 13', verify);
  const refusedRuns = await terminateRefusedRuns(ctx);
  return {
    id: 13,
    title: `mixed load, ${settings.clients} clients, ${settings.durationS} s (60% metadata, 25% 64 KiB content, 10% 64 KiB uploads, 5% 8 MiB downloads)`,
    service: 'the API and one worker',
    baseline: 'none',
    metrics: metricsOf(load),
    targets: [
      { target: '0 errors (5xx, timeouts, connection errors, unexpected 4xx)', value: load.total_errors, met: load.total_errors === 0 },
      { target: 'p99 of metadata GETs <= 1 s', value: load.kinds.metadata.p99_ms, met: load.kinds.metadata.p99_ms <= 1000 },
      { target: '0 lost uploads', value: verify.lost.length, met: verify.lost.length === 0 },
    ],
    details: {
      load: loadDetails(load),
      verified_uploads: verify.verified,
      lost: verify.lost.slice(0, 20),
      refused_runs_terminated: refusedRuns,
      loadavg_before: loadavgBefore,
      loadavg_after: loadavgAfter,
    },
  };
}

/** Row 14: the same load through the proxy, while the replicas are restarted in turn and one worker SIGKILLed. */
export async function rowReplicas(ctx: RowContext, settings: MixedSettings): Promise<RowResult> {
  const { env } = ctx;
  const token = benchToken();
  const ports = await freePorts(2);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const apis = ports.map((p, i) => env.startReplica('api', `replica-api-${i}`, p));
  const workers: ServiceChild[] = [env.worker, env.startReplica('worker', 'replica-worker-1')];
  let generation = 1;
  const proxy = await startRoundRobinProxy({ backends: urls, port: 0 });
  const steps: string[] = [];
  const step = (line: string) => {
    steps.push(`+${round((Date.now() - t0) / 1000, 1)} s ${line}`);
    ctx.say(`row 14 ${line}`);
  };
  const t0 = Date.now();
  try {
    const routed = (i: number) =>
      until(`the proxy to route to ${urls[i]}`, async () => {
        if (apis[i].child.exitCode !== null) throw new Error(`${apis[i].name} exited; see ${apis[i].logFile}`);
        return proxy.backends()[i].ready;
      });
    const polling = (w: ServiceChild) =>
      until(`${w.name} to poll`, async () => {
        if (w.child.exitCode !== null) throw new Error(`${w.name} exited; see ${w.logFile}`);
        return (await pollingPids(ctx)).includes(w.pid);
      });
    await Promise.all([routed(0), routed(1), polling(workers[1])]);
    const prepared = await prepareAssets(proxy.url, token);
    const users = await usersOf(ctx, proxy.url, prepared, settings.clients);

    // Phase 1: rolling SIGTERM restarts, each API back on its port, each worker replaced before it drains.
    let restartsDone!: () => void;
    const restarted = new Promise<void>((resolve) => (restartsDone = resolve));
    const minimum = new Promise((resolve) => setTimeout(resolve, settings.durationS * 1000));
    const rolling = runMixedLoad(
      { url: proxy.url, token: users, clients: settings.clients, durationS: 600, until: Promise.all([restarted, minimum]) },
      prepared,
    );
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      for (let i = 0; i < apis.length; i++) {
        step(`SIGTERM ${apis[i].name}`);
        await terminate(apis[i], env.config.http.drainMs + env.config.http.graceMs + 10_000);
        step(`${apis[i].name} exited (${apis[i].child.signalCode ?? apis[i].child.exitCode})`);
        apis[i] = env.startReplica('api', `replica-api-${i}-${++generation}`, ports[i]);
        await routed(i);
        step(`${apis[i].name} routed`);
      }
      for (let i = 0; i < workers.length; i++) {
        const replacement = env.startReplica('worker', `replica-worker-${i}-${++generation}`);
        await polling(replacement);
        step(`${replacement.name} polling; SIGTERM ${workers[i].name}`);
        await terminate(workers[i], 60_000);
        step(`${workers[i].name} exited (${workers[i].child.signalCode ?? workers[i].child.exitCode})`);
        workers[i] = replacement;
      }
    } finally {
      restartsDone();
    }
    const restarts = await rolling;

    // Phase 2: one worker SIGKILLed a few seconds into the load.
    const killPhaseS = Math.max(3, Math.round(settings.durationS / 2));
    const killing = runMixedLoad({ url: proxy.url, token: users, clients: settings.clients, durationS: killPhaseS }, prepared);
    await new Promise((r) => setTimeout(r, Math.min(3_000, (killPhaseS * 1000) / 3)));
    step(`SIGKILL ${workers[0].name}`);
    workers[0].child.kill('SIGKILL');
    const killed = await killing;

    const verify = await verifyUploads(proxy.url, token, [...restarts.uploads, ...killed.uploads]);
    sayLoad(ctx, 'row 14 restarts', restarts);
    sayLoad(ctx, 'row 14 SIGKILL', killed);
    sayVerified(ctx, 'row 14, both phases', verify);
    const left = await env.db('upload_sessions').whereIn('status', ['open', 'completing']).count({ n: '*' });
    const refusedRuns = await terminateRefusedRuns(ctx);
    return {
      id: 14,
      title: `row 13's load through the round-robin proxy to 2 APIs and 2 workers: rolling SIGTERM restarts of each (${restarts.seconds} s), then one worker SIGKILLed (${killed.seconds} s)`,
      service: 'proxy, 2 APIs, 2 workers',
      baseline: 'none',
      metrics: { ...metricsOf(restarts), errors_after_sigkill: one(killed.total_errors, 'requests'), lost_uploads: one(verify.lost.length, 'uploads') },
      targets: [
        { target: '0 failed requests through the rolling restarts', value: restarts.total_errors, met: restarts.total_errors === 0 },
        { target: '0 lost uploads through the worker SIGKILL', value: verify.lost.length, met: verify.lost.length === 0 },
      ],
      details: {
        restarts: loadDetails(restarts),
        sigkill: loadDetails(killed),
        verified_uploads: verify.verified,
        lost: verify.lost.slice(0, 20),
        sessions_left_open: Number(left[0].n),
        refused_runs_terminated: refusedRuns,
        steps,
        proxy_backends: proxy.backends(),
        loadavg_after: os.loadavg().map((v) => round(v, 2)),
      },
    };
  } finally {
    await proxy.close();
    await Promise.all([...apis, ...workers].map((p) => p.stop()));
  }
}

/** SIGTERM and the exit, however long the drain takes (ServiceChild.stop() SIGKILLs after 15 s). */
async function terminate(p: ServiceChild, boundMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), boundMs);
  await exited;
  clearTimeout(timer);
}

async function until(what: string, probe: () => Promise<boolean | undefined>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Ends the upload runs still going once every accepted upload is verified: those of the refused
 * uploads, which opened after their API gave up on them and would otherwise wait for a complete
 * that never comes until they expire (STORAGE_UPLOAD_EXPIRY_HOURS), on the shared server.
 */
async function terminateRefusedRuns(ctx: RowContext): Promise<number> {
  const { client } = ctx.env.temporal;
  const query = `TaskQueue = '${ctx.env.config.temporal.taskQueue}' AND WorkflowType = 'uploadWorkflow' AND ExecutionStatus = 'Running'`;
  let ended = 0;
  for await (const run of client.workflow.list({ query })) {
    await client.workflow
      .getHandle(run.workflowId, run.runId)
      .terminate('bench: an upload refused to its client')
      .then(() => ended++)
      .catch(() => {});
  }
  return ended;
}

/** The pids of the workers polling the bench's workflow task queue (a worker's identity is `pid@host`). */
async function pollingPids(ctx: RowContext): Promise<number[]> {
  const { pollers } = await ctx.env.temporal.client.workflowService.describeTaskQueue({
    namespace: ctx.env.config.temporal.namespace,
    taskQueue: { name: ctx.env.config.temporal.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (pollers ?? []).map((p) => Number(String(p.identity).split('@')[0]));
}
