/** Lifecycle runs (admins): start one now (all policies or one, optionally dry), list them, read one. */
import { listRuns, toRunJson } from '../../lib/lifecycle/sweep';
import { readLifecycleRun, startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { idParams, parse } from '../schemas/common';
import { listRunsQuery, runAnswer, startRunBody } from '../schemas/policies';
import { locationHeader, pageOf, problemAnswer as problem } from '../schemas/responses';

const start = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/lifecycle/runs',
    tag: 'lifecycle',
    summary: 'Sweep now (lifecycleSweepWorkflow, lifecycle-{run_id}): every enabled policy and the global settings, or one policy; optionally a dry run',
    body: { schema: startRunBody },
    responses: {
      202: {
        description: 'the run, started',
        schema: runAnswer,
        headers: locationHeader('the run'),
        links: [{ resource: '/api/v2/lifecycle/runs/:id', parameters: { id: '$response.body#/id' } }],
      },
      404: problem('unknown policy'),
    },
  },
  (deps) => async (req, res) => {
    // No body at all is a run of every policy; a body must be JSON.
    const body = parse(startRunBody, req.body ?? {}, 'body');
    const run = await startLifecycleRun(deps.lifecycle, actorOf(res), { policyId: body.policy_id, dryRun: body.dry_run });
    res.status(202).setHeader('Location', `/api/v2/lifecycle/runs/${run.id}`).json(toRunJson(run));
  },
);

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/lifecycle/runs',
    tag: 'lifecycle',
    summary: 'Runs, scheduled ones too, newest first',
    query: listRunsQuery,
    responses: { 200: { description: 'a page', schema: pageOf(runAnswer) } },
  },
  (deps) => async (req, res) => {
    res.json(await listRuns(deps.db, parse(listRunsQuery, req.query, 'query')));
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/lifecycle/runs/:id',
    tag: 'lifecycle',
    summary: 'One run: status, counts; a run whose workflow was terminated reads as failed',
    params: idParams,
    responses: { 200: { description: 'the run', schema: runAnswer }, 404: problem('unknown run') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toRunJson(await readLifecycleRun(deps.lifecycle, id)));
  },
);

export const LIFECYCLE_ROUTES = [start, list, read];
