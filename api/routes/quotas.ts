/** An owner's usage (their own, or any for an admin) and an admin's quota overrides. */
import { ForbiddenError } from '../../lib/auth/errors';
import { mayReadUsageOf, patchQuotaOverride, quotaOf, setQuotaOverride, usageOf } from '../../lib/quotas/quotas';
import { MERGE_PATCH } from '../http/jsonBody';
import { IF_NONE_MATCH_HEADER, ifMatchOf, sendTagged } from '../http/preconditions';
import { defineRoute } from '../http/route';
import { auditOf } from '../middleware/auditTrail';
import { actorOf } from '../middleware/authentication';
import { parse } from '../schemas/common';
import { quotaAnswer, quotaOverrideBody, quotaParams, quotaPatchBody, usageAnswer, usageQuery } from '../schemas/quotas';
import { etagHeader, problemAnswer } from '../schemas/responses';

const usage = defineRoute(
  {
    method: 'get',
    path: '/api/v2/usage',
    access: 'caller',
    tag: 'quotas',
    summary: "What an owner stores and has reserved, and their quota: the caller's own, or (admins) any owner's",
    query: usageQuery,
    responses: { 200: { description: 'the usage', schema: usageAnswer }, 403: problemAnswer("another owner's usage, asked by someone not an admin") },
  },
  (deps) => async (req, res) => {
    const actor = actorOf(res);
    const owner = parse(usageQuery, req.query, 'query').owner_id ?? actor.sub;
    if (!mayReadUsageOf(actor, owner)) throw new ForbiddenError("only admins may read another owner's usage");
    res.json(await usageOf(deps.db, deps.config.quotas, owner));
  },
);

const override = defineRoute(
  {
    method: 'put',
    path: '/api/v2/quotas/:owner_id',
    access: 'admin',
    tag: 'quotas',
    summary: "Set an owner's quota, overriding STORAGE_QUOTA_BYTES_PER_OWNER / STORAGE_QUOTA_ASSETS_PER_OWNER",
    params: quotaParams,
    body: { schema: quotaOverrideBody },
    preconditions: 'existing',
    responses: { 200: { description: "the owner's usage under the new quota (ETag: the quota's new one)", schema: usageAnswer, headers: etagHeader } },
  },
  (deps) => async (req, res) => {
    const { owner_id } = parse(quotaParams, req.params, 'path');
    const body = parse(quotaOverrideBody, req.body ?? {}, 'body');
    const ifMatch = ifMatchOf(req);
    const { usage: answer, etag } = await setQuotaOverride(deps.db, deps.config.quotas, owner_id, body, ifMatch, auditOf(res));
    res.setHeader('ETag', etag).json(answer);
  },
);

const read = defineRoute(
  {
    method: 'get',
    path: '/api/v2/quotas/:owner_id',
    access: 'admin',
    tag: 'quotas',
    summary: "An owner's quota: their override (null: the default) and the limits in force, with its ETag for If-Match",
    params: quotaParams,
    headers: IF_NONE_MATCH_HEADER,
    responses: {
      200: { description: 'the quota', schema: quotaAnswer, headers: etagHeader },
      304: { description: 'If-None-Match holds: the quota is as it was read', headers: etagHeader },
    },
  },
  (deps) => async (req, res) => {
    const { owner_id } = parse(quotaParams, req.params, 'path');
    const { quota, etag } = await quotaOf(deps.db, deps.config.quotas, owner_id);
    sendTagged(req, res, etag, quota);
  },
);

const patch = defineRoute(
  {
    method: 'patch',
    path: '/api/v2/quotas/:owner_id',
    access: 'admin',
    tag: 'quotas',
    summary: "Change an owner's quota by a JSON merge patch (RFC 7396): a limit given replaces the override's, null goes back to the default",
    params: quotaParams,
    body: { schema: quotaPatchBody, content: MERGE_PATCH },
    preconditions: 'existing',
    responses: {
      200: { description: 'the quota (ETag: its new one)', schema: quotaAnswer, headers: etagHeader },
      415: problemAnswer(`the body is not ${MERGE_PATCH}`),
    },
  },
  (deps) => async (req, res) => {
    const { owner_id } = parse(quotaParams, req.params, 'path');
    const body = parse(quotaPatchBody, req.body, 'body');
    const ifMatch = ifMatchOf(req);
    const { quota, etag } = await patchQuotaOverride(deps.db, deps.config.quotas, owner_id, body, ifMatch, auditOf(res));
    res.setHeader('ETag', etag).json(quota);
  },
);

export const QUOTA_ROUTES = [usage, read, override, patch];
