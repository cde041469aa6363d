import { Router } from 'express';
import { listRuns, toRunJson } from '../../lib/lifecycle/sweep';
import { readLifecycleRun, startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { jsonBody } from '../http/jsonBody';
import { idParams, parse } from '../schemas/common';
import { listRunsQuery, startRunBody } from '../schemas/policies';

/** Lifecycle runs: start one now (all policies or one, optionally dry), read one, list them. */
export function lifecycleRouter(deps: Pick<AppDeps, 'db' | 'lifecycle'>): Router {
  const router = Router();
  const lc = deps.lifecycle;

  router.post('/api/v2/lifecycle/runs', jsonBody, async (req, res) => {
    // No body at all is a run of every policy; a body must be JSON.
    const body = parse(startRunBody, req.body ?? {}, 'body');
    const run = await startLifecycleRun(lc, actorOf(res), { policyId: body.policy_id, dryRun: body.dry_run });
    res.status(202).setHeader('Location', `/api/v2/lifecycle/runs/${run.id}`).json(toRunJson(run));
  });

  router.get('/api/v2/lifecycle/runs', async (req, res) => {
    res.json(await listRuns(deps.db, parse(listRunsQuery, req.query, 'query')));
  });

  router.get('/api/v2/lifecycle/runs/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toRunJson(await readLifecycleRun(lc, id)));
  });

  return router;
}
