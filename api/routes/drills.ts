/** Restore drills (issue 28): start one, list them, read one: admins only. */
import { listDrills, readDrill, startDrill } from '../../lib/drills/drillRuns';
import { toDrillJson } from '../../lib/drills/drills';
import { listQueryOf, pageAnswer } from '../http/lists';
import { answerStart } from '../http/operations';
import { defineRoute } from '../http/route';
import { noteAuditSubjects } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { createDrillBody, drillAnswer, listDrillsQuery } from '../schemas/drills';
import { idParams, parse } from '../schemas/common';
import { problemAnswer as problem } from '../schemas/responses';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER, operationFields } from '../schemas/operations';

const drillStarted = drillAnswer.extend(operationFields);

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/restore-drills',
    tag: 'backups',
    summary:
      'Run a restore drill (restoreDrillWorkflow, restore-drill-{id}): a random sample of a backup restored into a scratch prefix, checked byte for byte, removed',
    preconditions: 'create',
    headers: PREFER_HEADER,
    body: { schema: createDrillBody },
    responses: {
      200: { description: 'Prefer: wait=N, and the drill ended within it: the drill as it ended', schema: drillStarted, headers: PREFERENCE_APPLIED_HEADER },
      202: {
        description: 'the drill, started: follow Location, its operation (restore-drill-{id}); the drill itself is /api/v2/restore-drills/{id}',
        schema: drillStarted,
        links: [{ resource: '/api/v2/restore-drills/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      404: problem('unknown backup'),
      409: problem('the backup is not completed, or was removed; or there is no completed backup at all'),
    },
  },
  (deps) => async (req, res) => {
    const body = parse(createDrillBody, req.body ?? {}, 'body');
    const row = await startDrill(deps.backups, actorOf(res), { backupId: body.backup_id });
    noteAuditSubjects(res, row.backup_id ? { backup_id: row.backup_id } : {});
    await answerStart(req, res, deps, row.workflow_id, toDrillJson(row), () => readDrill(deps.db, row.id));
  },
);

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/restore-drills',
    tag: 'backups',
    summary: 'Restore drills, newest first (of one backup with ?backup_id=)',
    query: listDrillsQuery,
    responses: { 200: pageAnswer(drillAnswer) },
  },
  (deps) => async (req, res) => {
    res.json(await listDrills(deps.db, listQueryOf(listDrillsQuery, req, res)));
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/restore-drills/:id',
    tag: 'backups',
    summary: 'One restore drill: what it checked, and what did not restore (asset, version, why)',
    params: idParams,
    responses: { 200: { description: 'the drill', schema: drillAnswer }, 404: problem('unknown restore drill') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readDrill(deps.db, id));
  },
);

export const DRILL_ROUTES = [create, list, read];
