/** An owner's usage (their own, or any for an admin) and an admin's quota overrides. */
import { ForbiddenError } from '../../lib/auth/errors';
import { mayReadUsageOf, setQuotaOverride, usageOf } from '../../lib/quotas/quotas';
import { defineRoute } from '../http/route';
import { actorOf } from '../middleware/authentication';
import { parse } from '../schemas/common';
import { quotaOverrideBody, quotaParams, usageAnswer, usageQuery } from '../schemas/quotas';
import { problemAnswer } from '../schemas/responses';

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
    responses: { 200: { description: "the owner's usage under the new quota", schema: usageAnswer } },
  },
  (deps) => async (req, res) => {
    const { owner_id } = parse(quotaParams, req.params, 'path');
    const body = parse(quotaOverrideBody, req.body ?? {}, 'body');
    res.json(await setQuotaOverride(deps.db, deps.config.quotas, owner_id, body));
  },
);

export const QUOTA_ROUTES = [usage, override];
