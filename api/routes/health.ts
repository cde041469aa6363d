import { Router } from 'express';
import { checkDependencies, type HealthDeps, type HealthReport } from '../../lib/platform/health';
import { retentionHealth, type RetentionHealth } from '../../lib/backups/retentionSweeps';

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

/** Set by the API process once SIGTERM arrives: it still serves, but a load balancer must send nothing new. */
export interface Drain {
  draining: boolean;
}

export function healthRouter(deps: HealthDeps, drain?: Drain): Router {
  const router = Router();

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // What the last readiness check found: a draining API answers with it at once, since an API busy
  // enough to be restarted may take longer over its checks than the load balancer waits for them.
  let lastChecks: HealthReport | undefined;
  router.get('/health/ready', async (_req, res) => {
    if (drain?.draining) {
      const last = lastChecks ?? (await checkDependencies(deps));
      return void res.status(503).json({ status: 'draining', down: downOf(last), checks: last });
    }
    const checks = await checkDependencies(deps);
    lastChecks = checks;
    res.status(ready(checks) ? 200 : 503).json({ status: ready(checks) ? 'ready' : 'not_ready', down: downOf(checks), checks });
  });

  router.get('/health', async (_req, res) => {
    const [checks, retention] = await Promise.all([checkDependencies(deps), latestRetention(deps)]);
    let status = overall(checks);
    // A refused retention sweep waits for an operator (docs/recovery.md): the service serves, degraded.
    if (status === 'ok' && retention?.status === 'refused') status = 'degraded';
    res.status(status === 'ok' ? 200 : 503).json({ status, down: downOf(checks), checks, ...(retention ? { backup_retention: retention } : {}) });
  });

  return router;
}

/** The latest retention sweep's outcome, within the checks' timeout (left out when the database does not answer). */
async function latestRetention(deps: HealthDeps): Promise<RetentionHealth | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), deps.timeoutMs);
  });
  try {
    return await Promise.race([retentionHealth(deps.db).catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
