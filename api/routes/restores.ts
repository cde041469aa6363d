/** Restores to a point in time (start one; its items a page at a time): admins only. Reading and listing restores: ./backups.ts. */
import { toRestoreJson } from '../../lib/backups/catalog';
import { readRestore } from '../../lib/backups/backupRuns';
import { getRestore } from '../../lib/backups/catalog';
import { pointInTimeItems } from '../../lib/backups/pointInTimeJson';
import { startPointInTimeRestore } from '../../lib/backups/pointInTimeRuns';
import { ValidationError } from '../../lib/platform/errors';
import { listQueryOf, pageAnswer } from '../http/lists';
import { answerStart } from '../http/operations';
import { defineRoute } from '../http/route';
import { noteAuditSubjects } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { pointInTimeBody, pointInTimeItem, restoreAnswer, restoreItemsQuery } from '../schemas/backups';
import { idParams, parse } from '../schemas/common';
import { problemAnswer as problem } from '../schemas/responses';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER, operationFields } from '../schemas/operations';

const restoreStarted = restoreAnswer.extend(operationFields);

const FILTERS = ['asset_ids', 'owner_id', 'tag', 'group'] as const;

const DESCRIPTION = [
  'Each asset the filter matches (every filter given must hold; soft-deleted assets too) goes back to the bytes it had at as_of, from:',
  '`version`, the kept version that was current at as_of (unless a scrub marked it damaged); else `backup`, its current version in the newest completed backup whose snapshot is at or before as_of;',
  '`unchanged` when its content already is that content and is not marked damaged (nothing written); `skipped` (with the reason) when it did not exist at as_of, was deleted then, is being deleted for good, or neither source reaches back.',
  'A restore writes a new current version, a copy checked by its SHA-256 with the events, quota and audit row of any upload: it is itself undoable, the history kept.',
  'An asset soft-deleted after as_of is brought back. Bytes and content type are restored; name, tags, metadata, grants and owner are kept as they are (versions record none of them).',
  'A dry run (the default) lists the same per asset and writes nothing.',
].join(' ');

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/restores',
    tag: 'backups',
    preconditions: 'create',
    summary: 'Restore assets to a point in time (pointInTimeRestoreWorkflow, restore-{id}); a dry run unless the body says dry_run: false',
    description: DESCRIPTION,
    headers: PREFER_HEADER,
    body: { schema: pointInTimeBody },
    responses: {
      200: {
        description: 'Prefer: wait=N, and the restore ended within it: the restore as it ended, asset by asset',
        schema: restoreStarted,
        headers: PREFERENCE_APPLIED_HEADER,
      },
      202: {
        description: 'the restore, started: follow Location, its operation (restore-{id}); the restore itself, asset by asset, is /api/v2/restores/{id}',
        schema: restoreStarted,
        links: [{ resource: '/api/v2/restores/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      404: problem('an asset in asset_ids does not exist'),
    },
  },
  (deps) => async (req, res) => {
    const body = parse(pointInTimeBody, req.body ?? {}, 'body');
    const asOf = new Date(body.as_of);
    if (asOf.getTime() > Date.now())
      throw new ValidationError('invalid body: as_of is in the future', [{ path: 'as_of', message: 'must not be in the future' }]);
    const filter = Object.fromEntries(FILTERS.filter((f) => body[f] !== undefined).map((f) => [f, body[f]]));
    if (Object.keys(filter).length === 0) {
      throw new ValidationError(`invalid body: give at least one filter: ${FILTERS.join(', ')}`, [{ path: 'asset_ids', message: 'a filter is required' }]);
    }
    const row = await startPointInTimeRestore(deps.backups, actorOf(res), { asOf, filter, dryRun: body.dry_run });
    noteAuditSubjects(res, { restore_id: row.id });
    await answerStart(req, res, deps, row.workflow_id, toRestoreJson(row, []), () => readRestore(deps.backups, row.id));
  },
);

const items = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/restores/:id/items',
    tag: 'backups',
    summary: "A restore's assets, by asset id: what was done with each and, in a restore to a point in time, where its bytes came from",
    params: idParams,
    query: restoreItemsQuery,
    responses: { 200: pageAnswer(pointInTimeItem), 404: problem('unknown restore') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const q = listQueryOf(restoreItemsQuery, req, res);
    await getRestore(deps.db, id);
    res.json(await pointInTimeItems(deps.db, id, q));
  },
);

export const RESTORE_ROUTES = [create, items];
