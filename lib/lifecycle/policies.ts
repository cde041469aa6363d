import type { Knex } from 'knex';
import type { AuditTrail } from '../audit/log';
import { ConflictError, NotFoundError } from '../platform/errors';
import { ensureIfMatch } from '../platform/etags';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import {
  deleteRulesOf,
  insertPolicyRow,
  insertRuleRows,
  lockLivePolicy,
  selectEnabledPolicies,
  selectLivePolicy,
  selectPolicyPage,
  selectRulesOf,
  softDeletePolicy,
  updateLivePolicy,
  type PolicyRow,
  type RuleRow,
} from './store';
import type { PolicyFilter, PolicyRule } from './policyRules';

export interface PolicyInput {
  name: string;
  description: string;
  enabled: boolean;
  filter: PolicyFilter;
  rules: PolicyRule[];
}

export interface PolicyJson {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  filter: PolicyFilter;
  rules: PolicyRule[];
  created_at: string;
  updated_at: string;
}

/** A policy with its rules: what a sweep applies and what the API answers. */
export interface Policy extends PolicyRow {
  rules: PolicyRule[];
}

function toRule(row: RuleRow): PolicyRule {
  if (row.action === 'expire_noncurrent_versions') {
    return row.keep_latest === null
      ? { action: row.action, noncurrent_days: row.days }
      : { action: row.action, noncurrent_days: row.days, keep_latest: row.keep_latest };
  }
  return { action: row.action, days: row.days };
}

function toRuleRow(policyId: string, rule: PolicyRule, position: number) {
  return {
    id: uuidv7(),
    policy_id: policyId,
    position,
    action: rule.action,
    days: rule.action === 'expire_noncurrent_versions' ? rule.noncurrent_days : rule.days,
    keep_latest: rule.action === 'expire_noncurrent_versions' ? (rule.keep_latest ?? null) : null,
  };
}

/** The filter's parts in one order (jsonb keeps its own). */
function filterJson(filter: PolicyFilter): PolicyFilter {
  const json: PolicyFilter = {};
  if (filter.name_prefix !== undefined) json.name_prefix = filter.name_prefix;
  if (filter.content_type !== undefined) json.content_type = filter.content_type;
  if (filter.tags !== undefined) json.tags = filter.tags;
  return json;
}

export function toPolicyJson(policy: Policy): PolicyJson {
  return {
    id: policy.id,
    name: policy.name,
    description: policy.description,
    enabled: policy.enabled,
    filter: filterJson(policy.filter),
    rules: policy.rules,
    created_at: policy.created_at.toISOString(),
    updated_at: policy.updated_at.toISOString(),
  };
}

/** The rules of each policy, in their order: one query for any number of policies. */
async function withRules(db: Knex | Knex.Transaction, rows: PolicyRow[]): Promise<Policy[]> {
  if (rows.length === 0) return [];
  const rules = await selectRulesOf(
    db,
    rows.map((r) => r.id),
  );
  const byPolicy = new Map<string, PolicyRule[]>();
  for (const rule of rules) byPolicy.set(rule.policy_id, [...(byPolicy.get(rule.policy_id) ?? []), toRule(rule)]);
  return rows.map((row) => ({ ...row, rules: byPolicy.get(row.id) ?? [] }));
}

export async function findPolicy(db: Knex | Knex.Transaction, id: string): Promise<Policy | undefined> {
  const row = await selectLivePolicy(db, id);
  return row ? (await withRules(db, [row]))[0] : undefined;
}

export async function getPolicy(db: Knex | Knex.Transaction, id: string): Promise<Policy> {
  const policy = await findPolicy(db, id);
  if (!policy) throw new NotFoundError(`policy ${id} not found`);
  return policy;
}

/** Every enabled live policy: what a sweep over all policies applies. */
export async function enabledPolicies(db: Knex | Knex.Transaction): Promise<Policy[]> {
  return withRules(db, await selectEnabledPolicies(db));
}

type PolicyCursor = { id: string };

/** Oldest first (ids are UUID v7, so the primary key orders by creation). */
export async function listPolicies(db: Knex, q: { limit: number; cursor?: string }): Promise<Page<PolicyJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is PolicyCursor => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const rows = await selectPolicyPage(db, q.limit + 1, cursor?.id);
  const policies = new Map((await withRules(db, rows.slice(0, q.limit))).map((p) => [p.id, p]));
  return pageOf(
    rows,
    q.limit,
    (row) => toPolicyJson(policies.get(row.id)!),
    (row) => ({ id: row.id }),
  );
}

const UNIQUE_VIOLATION = '23505';

function duplicateName(err: unknown, name: string): unknown {
  const pgError = err as { code?: string; constraint?: string };
  if (pgError.code === UNIQUE_VIOLATION && pgError.constraint === 'lifecycle_policies_live_name_idx') {
    return new ConflictError(`a policy named ${JSON.stringify(name)} already exists`);
  }
  return err;
}

function policyFields(input: PolicyInput) {
  return { name: input.name, description: input.description, enabled: input.enabled, filter: JSON.stringify(input.filter) };
}

export async function createPolicy(db: Knex, input: PolicyInput, audit: AuditTrail): Promise<Policy> {
  const id = uuidv7();
  try {
    return await db.transaction(async (trx) => {
      await insertPolicyRow(trx, id, policyFields(input));
      await insertRuleRows(
        trx,
        input.rules.map((rule, i) => toRuleRow(id, rule, i)),
      );
      await audit.record(trx, { policy_id: id });
      return getPolicy(trx, id);
    });
  } catch (err) {
    throw duplicateName(err, input.name);
  }
}

/** The ETag of a policy: changes whenever the policy does (its revision). */
export function policyEtag(policy: Pick<PolicyRow, 'revision'>): string {
  return `"p${policy.revision}"`;
}

/**
 * The live policy, locked in `trx`: `ifMatch`, an ETag the client read, is compared under the lock,
 * so a change made since is not written over (StaleRevisionError, and nothing changes).
 */
async function lockedPolicyAt(trx: Knex.Transaction, id: string, ifMatch: string | undefined): Promise<PolicyRow> {
  const row = await lockLivePolicy(trx, id);
  if (!row) throw new NotFoundError(`policy ${id} not found`);
  ensureIfMatch(ifMatch, policyEtag(row), (etag) => `policy ${id} has changed: its ETag is ${etag}`);
  return row;
}

/** Every field and rule of a policy its caller holds locked (lockedPolicyAt) becomes `input`'s. */
async function writeLockedPolicy(trx: Knex.Transaction, id: string, input: PolicyInput, audit: AuditTrail): Promise<Policy> {
  await updateLivePolicy(trx, id, policyFields(input));
  await deleteRulesOf(trx, id);
  await insertRuleRows(
    trx,
    input.rules.map((rule, i) => toRuleRow(id, rule, i)),
  );
  await audit.record(trx);
  return getPolicy(trx, id);
}

/** PUT: every field and rule is replaced; `ifMatch` as lockedPolicyAt compares it. */
export async function replacePolicy(db: Knex, id: string, input: PolicyInput, ifMatch: string | undefined, audit: AuditTrail): Promise<Policy> {
  try {
    return await db.transaction(async (trx) => {
      await lockedPolicyAt(trx, id, ifMatch);
      return writeLockedPolicy(trx, id, input, audit);
    });
  } catch (err) {
    throw duplicateName(err, input.name);
  }
}

/**
 * PATCH (a merge patch, RFC 7396, onto the policy as it is under its lock): a field given replaces
 * the policy's, `rules` whole; in `filter` a member given replaces its own and a null removes it; a
 * null `description` or `filter` goes back to its default ('', {}).
 */
export async function patchPolicy(db: Knex, id: string, patch: PolicyPatch, ifMatch: string | undefined, audit: AuditTrail): Promise<Policy> {
  let name: string | undefined;
  try {
    return await db.transaction(async (trx) => {
      await lockedPolicyAt(trx, id, ifMatch);
      const current = await getPolicy(trx, id);
      // An empty patch changes nothing (RFC 7396): its ETag stays.
      if (Object.keys(patch).length === 0) {
        await audit.record(trx);
        return current;
      }
      const input: PolicyInput = {
        name: patch.name ?? current.name,
        description: patch.description === undefined ? current.description : (patch.description ?? ''),
        enabled: patch.enabled ?? current.enabled,
        filter: patch.filter === undefined ? current.filter : patch.filter === null ? {} : mergeFilter(current.filter, patch.filter),
        rules: patch.rules ?? current.rules,
      };
      name = input.name;
      return writeLockedPolicy(trx, id, input, audit);
    });
  } catch (err) {
    throw name === undefined ? err : duplicateName(err, name);
  }
}

export interface PolicyPatch {
  name?: string;
  description?: string | null;
  enabled?: boolean;
  filter?: { [K in keyof PolicyFilter]?: PolicyFilter[K] | null } | null;
  rules?: PolicyRule[];
}

function mergeFilter(current: PolicyFilter, patch: NonNullable<PolicyPatch['filter']>): PolicyFilter {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else if (value !== undefined) merged[key] = value;
  }
  return filterJson(merged as PolicyFilter);
}

/** A soft delete: the policy stops applying and frees its name; runs that used it keep their reference. `ifMatch` as lockedPolicyAt compares it. */
export async function deletePolicy(db: Knex, id: string, ifMatch: string | undefined, audit: AuditTrail): Promise<void> {
  await db.transaction(async (trx) => {
    await lockedPolicyAt(trx, id, ifMatch);
    await softDeletePolicy(trx, id);
    await audit.record(trx);
  });
}
