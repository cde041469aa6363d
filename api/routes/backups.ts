/** Backups (take one, list, read with live progress, import the bucket's), restores of a backup (start, list, read): admins only. */
import { listJobs, toBackupJson, toRestoreJson } from '../../lib/backups/catalog';
import { readBackup, readRestore, startBackup, startRestore } from '../../lib/backups/backupRuns';
import { importBackups } from '../../lib/backups/import';
import { defineRoute } from '../http/route';
import { auditOf } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { backupAnswer, createBackupBody, importAnswer, importBody, listBackupsQuery, listRestoresQuery, restoreAnswer, restoreBody } from '../schemas/backups';
import { idParams, parse } from '../schemas/common';
import { locationHeader, pageOf, problemAnswer as problem } from '../schemas/responses';

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/backups',
    tag: 'backups',
    summary: 'Take a backup (backupWorkflow, backup-{id}); no body: every asset, current versions',
    body: { schema: createBackupBody },
    responses: {
      202: {
        description: 'the backup, started',
        schema: backupAnswer,
        headers: locationHeader('the backup'),
        links: [{ resource: '/api/v2/backups/:id', parameters: { id: '$response.body#/id' } }],
      },
      404: problem('an asset in asset_ids does not exist'),
    },
  },
  (deps) => async (req, res) => {
    // No body at all is a backup of every asset; a body must be JSON.
    const body = parse(createBackupBody, req.body ?? {}, 'body');
    const row = await startBackup(deps.backups, actorOf(res), { label: body.label, assetIds: body.asset_ids, includeAllVersions: body.include_all_versions });
    res.status(202).setHeader('Location', `/api/v2/backups/${row.id}`).json(toBackupJson(row));
  },
);

const importAll = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/backups/import',
    tag: 'backups',
    summary: "Register every backup of the backup bucket the catalog does not know, each checked against its summary's SHA-256 (docs/recovery.md)",
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
    responses: { 200: { description: 'a page', schema: pageOf(backupAnswer) } },
  },
  (deps) => async (req, res) => {
    res.json(await listJobs(deps.db, 'backup', parse(listBackupsQuery, req.query, 'query'), (row) => toBackupJson(row)));
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
    summary: 'Restore from a backup (restoreWorkflow, restore-{id})',
    params: idParams,
    body: { schema: restoreBody },
    responses: {
      202: {
        description: 'the restore, started',
        schema: restoreAnswer,
        headers: locationHeader('the restore'),
        links: [{ resource: '/api/v2/restores/:id', parameters: { id: '$response.body#/id' } }],
      },
      404: problem('unknown backup'),
      409: problem('the backup is not completed, or was removed'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(restoreBody, req.body ?? {}, 'body');
    const row = await startRestore(deps.backups, actorOf(res), id, { mode: body.mode, assetIds: body.asset_ids });
    res.status(202).setHeader('Location', `/api/v2/restores/${row.id}`).json(toRestoreJson(row, []));
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
    responses: { 200: { description: 'a page', schema: pageOf(restoreAnswer) } },
  },
  (deps) => async (req, res) => {
    const q = parse(listRestoresQuery, req.query, 'query');
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
