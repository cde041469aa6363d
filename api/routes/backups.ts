import { Router } from 'express';
import { listJobs, toBackupJson, toRestoreJson } from '../../lib/backups/catalog';
import { readBackup, readRestore, startBackup, startRestore } from '../../lib/backups/backupRuns';
import { importBackups } from '../../lib/backups/import';
import { auditOf } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import type { AppDeps } from '../deps';
import { jsonBody } from '../http/jsonBody';
import { createBackupBody, importBody, listBackupsQuery, listRestoresQuery, restoreBody } from '../schemas/backups';
import { idParams, parse } from '../schemas/common';

/** Backups (take one, list, read with live progress, import the bucket's), restores of a backup (start, list, read). */
export function backupsRouter(deps: Pick<AppDeps, 'db' | 's3' | 'config' | 'backups'>): Router {
  const router = Router();
  const bc = deps.backups;

  router.post('/api/v2/backups', jsonBody, async (req, res) => {
    // No body at all is a backup of every asset; a body must be JSON.
    const body = parse(createBackupBody, req.body ?? {}, 'body');
    const row = await startBackup(bc, actorOf(res), { label: body.label, assetIds: body.asset_ids, includeAllVersions: body.include_all_versions });
    res.status(202).setHeader('Location', `/api/v2/backups/${row.id}`).json(toBackupJson(row));
  });

  router.post('/api/v2/backups/import', jsonBody, async (req, res) => {
    parse(importBody, req.body ?? {}, 'body');
    const result = await importBackups(deps.db, deps.s3, deps.config.s3.backupBucket, auditOf(res));
    res.json({ imported: result.imported.map((row) => toBackupJson(row)), known: result.known, refused: result.refused });
  });

  router.get('/api/v2/backups', async (req, res) => {
    res.json(await listJobs(deps.db, 'backup', parse(listBackupsQuery, req.query, 'query'), (row) => toBackupJson(row)));
  });

  router.get('/api/v2/backups/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readBackup(bc, id));
  });

  router.post('/api/v2/backups/:id/restore', jsonBody, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(restoreBody, req.body ?? {}, 'body');
    const row = await startRestore(bc, actorOf(res), id, { mode: body.mode, assetIds: body.asset_ids });
    res.status(202).setHeader('Location', `/api/v2/restores/${row.id}`).json(toRestoreJson(row, []));
  });

  router.get('/api/v2/restores', async (req, res) => {
    const q = parse(listRestoresQuery, req.query, 'query');
    res.json(await listJobs(deps.db, 'restore', q, (row) => toRestoreJson(row)));
  });

  router.get('/api/v2/restores/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(await readRestore(bc, id));
  });

  return router;
}
