/** Lifecycle runs (admins): start one now (all policies or one, optionally dry), list them, read one, and what a dry one would remove. */
import { listRunItems } from '../../lib/lifecycle/runItems';
import { getRun } from '../../lib/lifecycle/runRows';
import { listRuns, toRunJson } from '../../lib/lifecycle/sweep';
import { readLifecycleRun, startLifecycleRun } from '../../lib/lifecycle/sweepRuns';
import { listQueryOf, pageAnswer } from '../http/lists';
import { answerStart } from '../http/operations';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { idParams, parse } from '../schemas/common';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER, operationFields } from '../schemas/operations';
import { listRunsQuery, runAnswer, runItemAnswer, runItemsQuery, startRunBody } from '../schemas/policies';
import { problemAnswer as problem } from '../schemas/responses';

const runStarted = runAnswer.extend(operationFields);

const start = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/lifecycle/runs',
    tag: 'lifecycle',
    preconditions: 'create',
    summary:
      'Sweep now (lifecycleSweepWorkflow, lifecycle-{run_id}): every enabled policy and the global settings, or one policy; a dry run unless the body says dry_run: false',
    headers: PREFER_HEADER,
    body: { schema: startRunBody },
    responses: {
      200: { description: 'Prefer: wait=N, and the run ended within it: the run as it ended', schema: runStarted, headers: PREFERENCE_APPLIED_HEADER },
      202: {
        description: 'the run, started: follow Location, its operation (lifecycle-{id}); the run itself is /api/v2/lifecycle/runs/{id}',
        schema: runStarted,
        links: [{ resource: '/api/v2/lifecycle/runs/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      404: problem('unknown policy'),
    },
  },
  (deps) => async (req, res) => {
    // No body at all is a dry run of every policy; a body must be JSON.
    const body = parse(startRunBody, req.body ?? {}, 'body');
    const run = await startLifecycleRun(deps.lifecycle, actorOf(res), { policyId: body.policy_id, dryRun: body.dry_run });
    await answerStart(req, res, deps, run.workflow_id, toRunJson(run), async () => toRunJson(await readLifecycleRun(deps.lifecycle, run.id)));
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
    responses: { 200: pageAnswer(runAnswer) },
  },
  (deps) => async (req, res) => {
    res.json(await listRuns(deps.db, listQueryOf(listRunsQuery, req, res)));
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

const items = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/lifecycle/runs/:id/items',
    tag: 'lifecycle',
    summary:
      'What a dry run would remove, in the order it found them (as the run goes on, so far): versions, assets, upload sessions; a real run has none (its removals are in the audit log)',
    params: idParams,
    query: runItemsQuery,
    responses: { 200: pageAnswer(runItemAnswer), 404: problem('unknown run') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const q = listQueryOf(runItemsQuery, req, res);
    await getRun(deps.db, id);
    res.json(await listRunItems(deps.db, id, q));
  },
);

export const LIFECYCLE_ROUTES = [start, list, read, items];
