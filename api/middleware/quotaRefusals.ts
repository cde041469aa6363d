import type { ErrorRequestHandler } from 'express';
import { QuotaExceededError } from '../../lib/platform/errors';
import type { Metrics } from '../../lib/platform/metrics';

/** Counts each quota refusal (storage_quota_refusals_total) on its way to the problem handler. */
export function countQuotaRefusals(metrics: Pick<Metrics, 'countQuotaRefusal'>): ErrorRequestHandler {
  return (err, _req, _res, next) => {
    if (err instanceof QuotaExceededError) metrics.countQuotaRefusal(String(err.facts.quota));
    next(err);
  };
}
