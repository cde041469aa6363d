/** Lifecycle policies (admins): CRUD; deleting is a soft delete that frees the name. */
import { createPolicy, deletePolicy, getPolicy, listPolicies, replacePolicy, toPolicyJson } from '../../lib/lifecycle/policies';
import { defineRoute } from '../http/route';
import { auditOf } from '../middleware/auditTrail';
import { idParams, parse } from '../schemas/common';
import { listPoliciesQuery, policyAnswer, policyBody } from '../schemas/policies';
import { locationHeader, pageOf, problemAnswer as problem } from '../schemas/responses';

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/policies',
    tag: 'lifecycle',
    summary: 'Lifecycle policies, oldest first',
    query: listPoliciesQuery,
    responses: { 200: { description: 'a page', schema: pageOf(policyAnswer) } },
  },
  (deps) => async (req, res) => {
    res.json(await listPolicies(deps.db, parse(listPoliciesQuery, req.query, 'query')));
  },
);

const create = defineRoute(
  {
    method: 'post',
    access: 'admin',
    path: '/api/v2/policies',
    tag: 'lifecycle',
    summary: 'Create a policy',
    body: { schema: policyBody },
    responses: {
      201: {
        description: 'the policy',
        schema: policyAnswer,
        headers: locationHeader('the policy'),
        links: [{ resource: '/api/v2/policies/:id', parameters: { id: '$response.body#/id' } }],
      },
      409: problem('a live policy has that name'),
      415: problem('the body is not JSON'),
    },
  },
  (deps) => async (req, res) => {
    const policy = await createPolicy(deps.db, parse(policyBody, req.body ?? {}, 'body'), auditOf(res));
    res.status(201).setHeader('Location', `/api/v2/policies/${policy.id}`).json(toPolicyJson(policy));
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'One policy',
    params: idParams,
    responses: { 200: { description: 'the policy', schema: policyAnswer }, 404: problem('unknown policy') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toPolicyJson(await getPolicy(deps.db, id)));
  },
);

const replace = defineRoute(
  {
    method: 'put',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'Replace a policy whole (what is left out takes its default)',
    params: idParams,
    body: { schema: policyBody },
    responses: { 200: { description: 'the policy', schema: policyAnswer }, 404: problem('unknown policy'), 409: problem('a live policy has that name') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    res.json(toPolicyJson(await replacePolicy(deps.db, id, parse(policyBody, req.body ?? {}, 'body'), auditOf(res))));
  },
);

const remove = defineRoute(
  {
    method: 'delete',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'Delete a policy (a soft delete that frees its name)',
    params: idParams,
    responses: { 204: { description: 'deleted' }, 404: problem('unknown policy') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await deletePolicy(deps.db, id, auditOf(res));
    res.status(204).end();
  },
);

export const POLICY_ROUTES = [list, create, read, replace, remove];
