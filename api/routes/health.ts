/** Liveness, readiness (503 once draining) and combined health, for load balancers and operators. */
import { checkDependencies, type HealthDeps, type HealthReport } from '../../lib/platform/health';
import { retentionHealth } from '../../lib/backups/retentionSweeps';
import { drillHealth } from '../../lib/drills/drills';
import { defineRoute, type RouteDeps } from '../http/route';
import * as r from '../schemas/responses';

function overall(report: HealthReport): 'ok' | 'degraded' | 'down' {
  const down = Object.values(report).filter((c) => c.status !== 'ok').length;
  if (down === 0) return 'ok';
  return down === Object.keys(report).length ? 'down' : 'degraded';
}

/** The dependencies that did not answer, by name: what an operator looks at first. */
function downOf(report: HealthReport): string[] {
  return Object.entries(report)
    .filter(([, check]) => check.status !== 'ok')
    .map(([name]) => name);
}

// Redis only shares the rate-limit budgets: without it the API still serves, so it is still ready.
function ready(report: HealthReport): boolean {
  return report.database.status === 'ok' && report.object_store.status === 'ok' && report.temporal.status === 'ok';
}

function healthDepsOf(deps: RouteDeps): HealthDeps {
  return {
    db: deps.db,
    s3: deps.s3,
    bucket: deps.config.s3.bucket,
    temporal: deps.temporal.probe,
    redis: deps.redis,
    sse: deps.config.s3.sse,
    timeoutMs: deps.config.healthTimeoutMs,
  };
}

const live = defineRoute(
  {
    method: 'get',
    path: '/health/live',
    access: 'anyone',
    tag: 'operations',
    summary: 'Liveness',
    responses: { 200: { description: 'the process runs', schema: r.liveness } },
  },
  () => (_req, res) => {
    res.json({ status: 'ok' });
  },
);

const readiness = defineRoute(
  {
    method: 'get',
    path: '/health/ready',
    access: 'anyone',
    tag: 'operations',
    summary: 'Readiness: PostgreSQL, S3 and Temporal answer, and the API is not draining (SIGTERM)',
    responses: { 200: { description: 'ready', schema: r.readiness }, 503: { description: 'not ready, or draining', schema: r.readiness } },
  },
  (deps) => {
    const checked = healthDepsOf(deps);
    // What the last readiness check found: a draining API answers with it at once, since an API busy
    // enough to be restarted may take longer over its checks than the load balancer waits for them.
    let lastChecks: HealthReport | undefined;
    return async (_req, res) => {
      if (deps.drain?.draining) {
        const last = lastChecks ?? (await checkDependencies(checked));
        return void res.status(503).json({ status: 'draining', down: downOf(last), checks: last });
      }
      const checks = await checkDependencies(checked);
      lastChecks = checks;
      res.status(ready(checks) ? 200 : 503).json({ status: ready(checks) ? 'ready' : 'not_ready', down: downOf(checks), checks });
    };
  },
);

const health = defineRoute(
  {
    method: 'get',
    path: '/health',
    access: 'anyone',
    tag: 'operations',
    summary: 'Combined health',
    responses: { 200: { description: 'ok', schema: r.health }, 503: { description: 'degraded or down', schema: r.health } },
  },
  (deps) => {
    const checked = healthDepsOf(deps);
    const { backups, drills } = deps.config;
    return async (_req, res) => {
      const [checks, retention, proof] = await Promise.all([
        checkDependencies(checked),
        withinTimeout(checked, () => retentionHealth(checked.db)),
        backups.enabled ? withinTimeout(checked, () => drillHealth(checked.db, drills.periodHours)) : undefined,
      ]);
      let status = overall(checks);
      // A refused retention sweep waits for an operator (docs/recovery.md): the service serves, degraded.
      if (status === 'ok' && retention?.status === 'refused') status = 'degraded';
      // So do backups no drill has proven restorable: they may not restore when they are needed.
      if (status === 'ok' && proof?.status === 'unproven') status = 'degraded';
      res.status(status === 'ok' ? 200 : 503).json({
        status,
        down: downOf(checks),
        checks,
        ...(retention ? { backup_retention: retention } : {}),
        ...(proof ? { restore_drills: proof } : {}),
      });
    };
  },
);

/** A read of the catalog for /health, within the checks' timeout (left out when the database does not answer). */
async function withinTimeout<T>(deps: HealthDeps, read: () => Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), deps.timeoutMs);
  });
  try {
    return await Promise.race([read().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const HEALTH_ROUTES = [live, readiness, health];
