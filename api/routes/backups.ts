/** Backups (take one, list, read with live progress, import the bucket's), restores of a backup (start, list, read): admins only. */
import { listJobs, toBackupJson, toRestoreJson } from '../../lib/backups/catalog';
import { readBackup, readRestore, startBackup, startRestore } from '../../lib/backups/backupRuns';
import { importBackups } from '../../lib/backups/import';
import { listQueryOf, pageAnswer } from '../http/lists';
import { answerStart } from '../http/operations';
import { defineRoute } from '../http/route';
import { auditOf, noteAuditSubjects } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { backupAnswer, createBackupBody, importAnswer, importBody, listBackupsQuery, listRestoresQuery, restoreAnswer, restoreBody } from '../schemas/backups';
import { idParams, parse } from '../schemas/common';
import { problemAnswer as problem } from '../schemas/responses';
import { ACCEPTED_HEADERS, PREFERENCE_APPLIED_HEADER, PREFER_HEADER, operationFields } from '../schemas/operations';

const backupStarted = backupAnswer.extend(operationFields);
const restoreStarted = restoreAnswer.extend(operationFields);

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/backups',
    tag: 'backups',
    summary: 'Take a backup (backupWorkflow, backup-{id}); no body: every asset, current versions',
    preconditions: 'create',
    headers: PREFER_HEADER,
    body: { schema: createBackupBody },
    responses: {
      200: { description: 'Prefer: wait=N, and the backup ended within it: the backup as it ended', schema: backupStarted, headers: PREFERENCE_APPLIED_HEADER },
      202: {
        description: 'the backup, started: follow Location, its operation (backup-{id}); the backup itself is /api/v2/backups/{id}',
        schema: backupStarted,
        links: [{ resource: '/api/v2/backups/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      404: problem('an asset in asset_ids does not exist'),
    },
  },
  (deps) => async (req, res) => {
    // No body at all is a backup of every asset; a body must be JSON.
    const body = parse(createBackupBody, req.body ?? {}, 'body');
    const row = await startBackup(deps.backups, actorOf(res), { label: body.label, assetIds: body.asset_ids, includeAllVersions: body.include_all_versions });
    noteAuditSubjects(res, { backup_id: row.id });
    await answerStart(req, res, deps, row.workflow_id, toBackupJson(row), () => readBackup(deps.backups, row.id));
  },
);

const importAll = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/backups/import',
    tag: 'backups',
    summary: "Register every backup of the backup bucket the catalog does not know, each checked against its summary's SHA-256 (docs/recovery.md)",
    preconditions: 'create',
    body: { schema: importBody },
    responses: { 200: { description: 'what was registered, known already, or refused', schema: importAnswer } },
  },
  (deps) => async (req, res) => {
    parse(importBody, req.body ?? {}, 'body');
    const result = await importBackups(deps.db, deps.s3, deps.config.s3.backupBucket, auditOf(res));
    res.json({ imported: result.imported.map((row) => toBackupJson(row)), known: result.known, refused: result.refused });
  },
);

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/backups',
    tag: 'backups',
    summary: 'Backups, newest first',
    query: listBackupsQuery,
    responses: { 200: pageAnswer(backupAnswer) },
  },
  (deps) => async (req, res) => {
    res.json(await listJobs(deps.db, 'backup', listQueryOf(listBackupsQuery, req, res), (row) => toBackupJson(row)));
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/backups/:id',
    tag: 'backups',
    summary: 'One backup, its progress live from its workflow while it runs',
    params: idParams,
    responses: { 200: { description: 'the backup', schema: backupAnswer }, 404: problem('unknown backup') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readBackup(deps.backups, id));
  },
);

const restore = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/backups/:id/restore',
    tag: 'backups',
    preconditions: 'create',
    summary: 'Restore from a backup (restoreWorkflow, restore-{id}); a dry run unless the body says dry_run: false',
    params: idParams,
    headers: PREFER_HEADER,
    body: { schema: restoreBody },
    responses: {
      200: {
        description: 'Prefer: wait=N, and the restore ended within it: the restore as it ended',
        schema: restoreStarted,
        headers: PREFERENCE_APPLIED_HEADER,
      },
      202: {
        description: 'the restore, started: follow Location, its operation (restore-{id}); the restore itself is /api/v2/restores/{id}',
        schema: restoreStarted,
        links: [{ resource: '/api/v2/restores/:id', parameters: { id: '$response.body#/id' } }],
        headers: { ...ACCEPTED_HEADERS, ...PREFERENCE_APPLIED_HEADER },
      },
      404: problem('unknown backup'),
      409: problem('the backup is not completed, or was removed'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(restoreBody, req.body ?? {}, 'body');
    const row = await startRestore(deps.backups, actorOf(res), id, { mode: body.mode, assetIds: body.asset_ids, dryRun: body.dry_run });
    noteAuditSubjects(res, { backup_id: id, restore_id: row.id });
    await answerStart(req, res, deps, row.workflow_id, toRestoreJson(row, []), () => readRestore(deps.backups, row.id));
  },
);

const listRestores = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/restores',
    tag: 'backups',
    summary: 'Restores, newest first (of one backup with ?backup_id=)',
    query: listRestoresQuery,
    responses: { 200: pageAnswer(restoreAnswer) },
  },
  (deps) => async (req, res) => {
    const q = listQueryOf(listRestoresQuery, req, res);
    res.json(await listJobs(deps.db, 'restore', q, (row) => toRestoreJson(row)));
  },
);

const readRestoreRoute = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/restores/:id',
    tag: 'backups',
    summary: 'One restore, live from its workflow while it runs; failed_assets names what could not be restored',
    params: idParams,
    responses: { 200: { description: 'the restore', schema: restoreAnswer }, 404: problem('unknown restore') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readRestore(deps.backups, id));
  },
);

export const BACKUP_ROUTES = [create, importAll, list, read, restore, listRestores, readRestoreRoute];
