import { Router, type ErrorRequestHandler } from 'express';
import { ForbiddenError } from '../../lib/auth/errors';
import { QuotaExceededError } from '../../lib/platform/errors';
import type { Metrics } from '../../lib/platform/metrics';
import { mayReadUsageOf, setQuotaOverride, usageOf } from '../../lib/quotas/quotas';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { jsonBody } from '../http/jsonBody';
import { parse } from '../schemas/common';
import { quotaOverrideBody, quotaParams, usageQuery } from '../schemas/quotas';

/** An owner's usage (their own, or any for an admin) and an admin's quota overrides. */
export function quotasRouter(deps: Pick<AppDeps, 'config' | 'db'>): Router {
  const router = Router();
  const defaults = deps.config.quotas;

  router.get('/api/v2/usage', async (req, res) => {
    const actor = actorOf(res);
    const owner = parse(usageQuery, req.query, 'query').owner_id ?? actor.sub;
    if (!mayReadUsageOf(actor, owner)) throw new ForbiddenError("only admins may read another owner's usage");
    res.json(await usageOf(deps.db, defaults, owner));
  });

  router.put('/api/v2/quotas/:owner_id', jsonBody, async (req, res) => {
    const { owner_id } = parse(quotaParams, req.params, 'path');
    const body = parse(quotaOverrideBody, req.body ?? {}, 'body');
    res.json(await setQuotaOverride(deps.db, defaults, owner_id, body));
  });

  return router;
}

/** Counts each quota refusal (storage_quota_refusals_total) on its way to the problem handler. */
export function countQuotaRefusals(metrics: Pick<Metrics, 'countQuotaRefusal'>): ErrorRequestHandler {
  return (err, _req, _res, next) => {
    if (err instanceof QuotaExceededError) metrics.countQuotaRefusal(String(err.facts.quota));
    next(err);
  };
}
