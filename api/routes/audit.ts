/** The audit log, for admins. */
import { listAudit } from '../../lib/audit/list';
import { listQueryOf, pageAnswer } from '../http/lists';
import { defineRoute } from '../http/route';
import { listAuditQuery, auditRow } from '../schemas/audit';
import { problemAnswer as problem } from '../schemas/responses';

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/audit',
    tag: 'audit',
    summary: 'The audit log, newest first',
    query: listAuditQuery,
    responses: { 200: pageAnswer(auditRow), 400: problem('a filter or the cursor is not valid') },
  },
  (deps) => async (req, res) => {
    res.json(await listAudit(deps.db, listQueryOf(listAuditQuery, req, res, { since: 'created_after', until: 'created_before' })));
  },
);

export const AUDIT_ROUTES = [list];
