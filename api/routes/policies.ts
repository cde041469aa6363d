/** Lifecycle policies (admins): CRUD; deleting is a soft delete that frees the name. */
import type { Request, Response } from 'express';
import {
  createPolicy,
  deletePolicy,
  getPolicy,
  listPolicies,
  patchPolicy,
  policyEtag,
  replacePolicy,
  toPolicyJson,
  type Policy,
} from '../../lib/lifecycle/policies';
import { MERGE_PATCH } from '../http/jsonBody';
import { listQueryOf, pageAnswer } from '../http/lists';
import { IF_NONE_MATCH_HEADER, ifMatchOf, sendTagged } from '../http/preconditions';
import { defineRoute } from '../http/route';
import { auditOf } from '../middleware/auditTrail';
import { idParams, parse } from '../schemas/common';
import { listPoliciesQuery, policyAnswer, policyBody, policyPatchBody } from '../schemas/policies';
import { etagHeader, locationHeader, problemAnswer as problem } from '../schemas/responses';

function sendPolicy(req: Request, res: Response, policy: Policy, status = 200) {
  sendTagged(req, res, policyEtag(policy), toPolicyJson(policy), status);
}

const list = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/policies',
    tag: 'lifecycle',
    summary: 'Lifecycle policies, oldest first',
    query: listPoliciesQuery,
    responses: { 200: pageAnswer(policyAnswer) },
  },
  (deps) => async (req, res) => {
    res.json(await listPolicies(deps.db, listQueryOf(listPoliciesQuery, req, res)));
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
    preconditions: 'create',
    responses: {
      201: {
        description: 'the policy',
        schema: policyAnswer,
        headers: { ...etagHeader, ...locationHeader('the policy') },
        links: [{ resource: '/api/v2/policies/:id', parameters: { id: '$response.body#/id' } }],
      },
      409: problem('a live policy has that name'),
      415: problem('the body is not JSON'),
    },
  },
  (deps) => async (req, res) => {
    const policy = await createPolicy(deps.db, parse(policyBody, req.body ?? {}, 'body'), auditOf(res));
    res.setHeader('Location', `/api/v2/policies/${policy.id}`);
    sendPolicy(req, res, policy, 201);
  },
);

const read = defineRoute(
  {
    method: 'get',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'One policy (ETag for If-Match)',
    params: idParams,
    headers: IF_NONE_MATCH_HEADER,
    responses: {
      200: { description: 'the policy', schema: policyAnswer, headers: etagHeader },
      304: { description: 'If-None-Match holds: the policy is as it was read', headers: etagHeader },
      404: problem('unknown policy'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    sendPolicy(req, res, await getPolicy(deps.db, id));
  },
);

const replace = defineRoute(
  {
    method: 'put',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'Replace a policy whole (what is left out takes its default; optional If-Match)',
    params: idParams,
    body: { schema: policyBody },
    preconditions: 'existing',
    responses: {
      200: { description: 'the policy (ETag: its new one)', schema: policyAnswer, headers: etagHeader },
      404: problem('unknown policy'),
      409: problem('a live policy has that name'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    sendPolicy(req, res, await replacePolicy(deps.db, id, parse(policyBody, req.body ?? {}, 'body'), ifMatchOf(req), auditOf(res)));
  },
);

const patch = defineRoute(
  {
    method: 'patch',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'Change a policy by a JSON merge patch (RFC 7396): what is given replaces its own, rules whole (optional If-Match)',
    params: idParams,
    body: { schema: policyPatchBody, content: MERGE_PATCH },
    preconditions: 'existing',
    responses: {
      200: { description: 'the policy (ETag: its new one)', schema: policyAnswer, headers: etagHeader },
      404: problem('unknown policy'),
      409: problem('a live policy has that name'),
      415: problem(`the body is not ${MERGE_PATCH}`),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    sendPolicy(req, res, await patchPolicy(deps.db, id, parse(policyPatchBody, req.body, 'body'), ifMatchOf(req), auditOf(res)));
  },
);

const remove = defineRoute(
  {
    method: 'delete',
    access: 'admin',
    path: '/api/v2/policies/:id',
    tag: 'lifecycle',
    summary: 'Delete a policy (a soft delete that frees its name; optional If-Match)',
    params: idParams,
    preconditions: 'existing',
    responses: { 204: { description: 'deleted' }, 404: problem('unknown policy') },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    await deletePolicy(deps.db, id, ifMatchOf(req), auditOf(res));
    res.status(204).end();
  },
);

export const POLICY_ROUTES = [list, create, read, replace, patch, remove];
