import { Router } from 'express';
import { listAudit } from '../../lib/audit/list';
import type { AppDeps } from '../deps';
import { listAuditQuery } from '../schemas/audit';
import { parse } from '../schemas/common';

/** The audit log, for admins (api/access.ts). */
export function auditRouter(deps: Pick<AppDeps, 'db'>): Router {
  const router = Router();

  router.get('/api/v2/audit', async (req, res) => {
    res.json(await listAudit(deps.db, parse(listAuditQuery, req.query, 'query')));
  });

  return router;
}
