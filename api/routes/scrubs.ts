/** Scrubs (start one, list, read with live figures): admins only. */
import { listFindings, listScrubs, toScrubJson } from '../../lib/scrub/scrubs';
import { readScrub, startScrub } from '../../lib/scrub/scrubRuns';
import { listQueryOf, pageAnswer } from '../http/lists';
import { answerStart } from '../http/operations';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { idParams, parse } from '../schemas/common';
import { problemAnswer as problem } from '../schemas/responses';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER, operationFields } from '../schemas/operations';
import { createScrubBody, findingAnswer, listFindingsQuery, listScrubsQuery, scrubAnswer } from '../schemas/scrubs';

const scrubStarted = scrubAnswer.extend(operationFields);

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/scrubs',
    tag: 'scrubs',
    summary:
      'Scrub the store (scrubWorkflow, scrub-{id}), one at a time: reconcile the asset bucket with the catalog, repair from backups, check the backup bucket',
    preconditions: 'create',
    headers: PREFER_HEADER,
    body: { schema: createScrubBody },
    responses: {
      200: { description: 'Prefer: wait=N, and the scrub ended within it: the scrub as it ended', schema: scrubStarted, headers: PREFERENCE_APPLIED_HEADER },
      202: {
        description: 'the scrub, started: follow Location, its operation (scrub-{id}); the scrub itself is /api/v2/scrubs/{id}',
        schema: scrubStarted,
        links: [{ resource: '/api/v2/scrubs/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      409: problem('another scrub is running (one at a time: its byte budget is per run): the detail names it'),
    },
  },
  (deps) => async (req, res) => {
    const body = parse(createScrubBody, req.body ?? {}, 'body');
    const row = await startScrub(deps.backups, actorOf(res), { dryRun: body.dry_run, samplePercent: body.sample_percent ?? deps.config.scrub.samplePercent });
    await answerStart(req, res, deps, row.workflow_id, toScrubJson(row), () => readScrub(deps.backups, row.id));
  },
);

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/scrubs',
    tag: 'scrubs',
    summary: 'Scrubs, newest first',
    query: listScrubsQuery,
    responses: { 200: pageAnswer(scrubAnswer) },
  },
  (deps) => async (req, res) => {
    res.json(await listScrubs(deps.db, listQueryOf(listScrubsQuery, req, res)));
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/scrubs/:id',
    tag: 'scrubs',
    summary: 'One scrub, its figures live from its workflow while it runs',
    params: idParams,
    responses: { 200: { description: 'the scrub', schema: scrubAnswer }, 404: problem('unknown scrub') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readScrub(deps.backups, id));
  },
);

const findings = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/scrubs/:id/findings',
    tag: 'scrubs',
    summary: "What a scrub found, each with what it did about it (a dry run's: what it would act on), in (kind, subject) order",
    params: idParams,
    query: listFindingsQuery,
    responses: { 200: pageAnswer(findingAnswer), 404: problem('unknown scrub') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await listFindings(deps.db, id, listQueryOf(listFindingsQuery, req, res)));
  },
);

export const SCRUB_ROUTES = [create, list, read, findings];
