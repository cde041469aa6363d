import { Router } from 'express';
import { createPolicy, deletePolicy, getPolicy, listPolicies, replacePolicy, toPolicyJson } from '../../lib/lifecycle/policies';
import { auditOf } from '../middleware/auditTrail';
import type { AppDeps } from '../deps';
import { jsonBody } from '../http/jsonBody';
import { idParams, parse } from '../schemas/common';
import { listPoliciesQuery, policyBody } from '../schemas/policies';

/** Lifecycle policies: CRUD; deleting is a soft delete that frees the name. */
export function policiesRouter(deps: Pick<AppDeps, 'db'>): Router {
  const router = Router();

  router.get('/api/v2/policies', async (req, res) => {
    res.json(await listPolicies(deps.db, parse(listPoliciesQuery, req.query, 'query')));
  });

  router.post('/api/v2/policies', jsonBody, async (req, res) => {
    const policy = await createPolicy(deps.db, parse(policyBody, req.body ?? {}, 'body'), auditOf(res));
    res.status(201).setHeader('Location', `/api/v2/policies/${policy.id}`).json(toPolicyJson(policy));
  });

  router.get('/api/v2/policies/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toPolicyJson(await getPolicy(deps.db, id)));
  });

  router.put('/api/v2/policies/:id', jsonBody, async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toPolicyJson(await replacePolicy(deps.db, id, parse(policyBody, req.body ?? {}, 'body'), auditOf(res))));
  });

  router.delete('/api/v2/policies/:id', async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await deletePolicy(deps.db, id, auditOf(res));
    res.status(204).end();
  });

  return router;
}
