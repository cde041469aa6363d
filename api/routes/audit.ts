/** The audit log, for admins. */
import { listAudit } from '../../lib/audit/list';
import { defineRoute } from '../http/route';
import { listAuditQuery, auditRow } from '../schemas/audit';
import { parse } from '../schemas/common';
import { pageOf, problemAnswer as problem } from '../schemas/responses';

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/audit',
    tag: 'audit',
    summary: 'The audit log, newest first',
    query: listAuditQuery,
    responses: { 200: { description: 'a page', schema: pageOf(auditRow) }, 400: problem('a filter or the cursor is not valid') },
  },
  (deps) => async (req, res) => {
    res.json(await listAudit(deps.db, parse(listAuditQuery, req.query, 'query')));
  },
);

export const AUDIT_ROUTES = [list];
