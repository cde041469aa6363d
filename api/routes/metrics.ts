/** Prometheus metrics: open, or for admins (STORAGE_METRICS_ACCESS). */
import { defineRoute } from '../http/route';

const metrics = defineRoute(
  {
    method: 'get',
    path: '/metrics',
    access: 'metrics',
    tag: 'operations',
    summary: 'Prometheus metrics',
    responses: { 200: { description: 'text format', content: 'text/plain' } },
  },
  (deps) => async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  },
);

export const METRICS_ROUTES = [metrics];
