import { z } from 'zod';
import { contentTypeFilter, createdFilters, jobStatusFilter, multiLine, namePrefix, pageQuery, singleLine, tagList, uuid } from './common';

const required = (otherwise: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : otherwise);

const days = z
  .number({ error: required('must be a whole number of days') })
  .int('must be a whole number of days')
  .min(1, 'must be at least 1 day')
  .max(36_500, 'must be at most 36500 days')
  .meta({ examples: [30] });

/** One rule per action, each with its own parameters and nothing else. */
export const policyRule = z.discriminatedUnion(
  'action',
  [
    z
      .object({
        action: z.literal('expire_noncurrent_versions'),
        noncurrent_days: days,
        keep_latest: z
          .number({ error: required('must be a whole number') })
          .int('must be a whole number')
          .min(0, 'must be 0 or more')
          .max(10_000)
          .meta({ examples: [2] })
          .optional(),
      })
      .strict(),
    z.object({ action: z.literal('expire_assets'), days }).strict(),
    z.object({ action: z.literal('purge_deleted'), days }).strict(),
    z.object({ action: z.literal('abort_incomplete_uploads'), days }).strict(),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'action must be one of expire_noncurrent_versions, expire_assets, purge_deleted, abort_incomplete_uploads'
        : 'must be an object with an action',
  },
);

export const policyFilter = z
  .object({
    name_prefix: namePrefix.optional(),
    content_type: contentTypeFilter.optional(),
    tags: tagList.optional(),
  })
  .strict();

const policyName = singleLine(256)
  .min(1, 'must not be empty')
  .meta({ examples: ['old drafts'] });
const policyDescription = multiLine(4096).meta({ examples: ['keep the two latest versions of drafts for 30 days'] });

/** POST and PUT (a full replace): what is left out takes its default. */
export const policyBody = z
  .object({
    name: policyName,
    description: policyDescription.default(''),
    enabled: z.boolean().default(true),
    filter: policyFilter.default({}),
    rules: z.array(policyRule).min(1, 'a policy needs at least one rule').max(50, 'at most 50 rules'),
  })
  .strict();

/**
 * PATCH (application/merge-patch+json, RFC 7396): what is given replaces the policy's (`rules`
 * whole); in `filter` a null member is removed; a null `description` or `filter` takes its default.
 */
export const policyPatchBody = z
  .object({
    name: policyName.optional(),
    description: policyDescription.nullable().optional().describe("null: ''"),
    enabled: z.boolean().optional(),
    filter: z
      .object({
        name_prefix: namePrefix.nullable().optional(),
        content_type: contentTypeFilter.nullable().optional(),
        tags: tagList.nullable().optional(),
      })
      .strict()
      .nullable()
      .optional()
      .describe('merged into the filter: a member given replaces its own, a null removes it; null: no filter'),
    rules: z.array(policyRule).min(1, 'a policy needs at least one rule').max(50, 'at most 50 rules').optional().describe('replaces every rule'),
  })
  .strict();

export const listPoliciesQuery = z.object(pageQuery).strict();

export const startRunBody = z
  .object({
    policy_id: uuid.optional(),
    dry_run: z.boolean().default(true).describe('true unless said: only `dry_run: false` removes anything'),
  })
  .strict();

export const listRunsQuery = z.object({ ...pageQuery, status: jobStatusFilter, ...createdFilters }).strict();

// ---------------------------------------------------------------------------------------------
// The answers.

const timestamp = z.string().datetime({ offset: true });
const count = z.number().int().nonnegative();

export const policyAnswer = z
  .object({
    id: uuid,
    name: z.string(),
    description: z.string(),
    enabled: z.boolean(),
    filter: policyFilter,
    rules: z.array(policyRule),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .strict()
  .meta({
    id: 'Policy',
    examples: [
      {
        id: '0190c6d2-4a00-7811-8a22-1b2c3d4e5f60',
        name: 'old drafts',
        description: 'keep the two latest versions of drafts for 30 days',
        enabled: true,
        filter: { tags: ['draft'] },
        rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 2 }],
        created_at: '2026-12-07T14:00:00.000Z',
        updated_at: '2026-12-07T14:00:00.000Z',
      },
    ],
  });

export const runAnswer = z
  .object({
    id: uuid,
    status: z.enum(['pending', 'running', 'completed', 'failed']),
    dry_run: z.boolean(),
    policy_id: uuid.nullable().describe('the one policy the run applies; null: every enabled policy and the global settings'),
    trigger: z.enum(['api', 'schedule']),
    counts: z
      .object({ versions_expired: count, assets_expired: count, assets_purged: count, uploads_aborted: count, bytes_freed: count })
      .strict()
      .describe('in a dry run: what the sweep would do'),
    phase: z.enum(['uploads', 'purge', 'assets', 'versions', 'done']),
    as_of: timestamp.nullable().describe("the sweep's now (Temporal's clock when it began): every age is measured from it"),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
    workflow_id: z.string(),
    error: z.string().nullable(),
  })
  .strict()
  .meta({
    id: 'Run',
    examples: [
      {
        id: '0190c6d2-4b00-7822-8b33-2c3d4e5f6071',
        status: 'completed',
        dry_run: true,
        policy_id: null,
        trigger: 'api',
        counts: { versions_expired: 4, assets_expired: 0, assets_purged: 1, uploads_aborted: 0, bytes_freed: 1048576 },
        phase: 'done',
        as_of: '2026-12-07T14:00:00.000Z',
        created_at: '2026-12-07T14:00:00.000Z',
        started_at: '2026-12-07T14:00:00.000Z',
        completed_at: '2026-12-07T14:00:00.000Z',
        workflow_id: 'lifecycle-0190c6d2-4b00-7822-8b33-2c3d4e5f6071',
        error: null,
      },
    ],
  });

export const runItemsQuery = z.object(pageQuery).strict();

/** GET /lifecycle/runs/{id}/items: one thing a dry run would remove (lib/lifecycle/runItems.ts). */
export const runItemAnswer = z
  .object({
    action: z
      .enum(['abort_upload', 'purge_asset', 'expire_asset', 'expire_version'])
      .describe(
        'abort_upload: end an upload session; purge_asset: delete a soft-deleted asset for good; expire_asset: soft-delete it; expire_version: delete a noncurrent version',
      ),
    asset_id: uuid.nullable().describe("the asset, or the version's asset; null for an upload session"),
    version_id: uuid.nullable().describe('expire_version: the version'),
    upload_id: uuid.nullable().describe('abort_upload: the session'),
    size_bytes: count.nullable().describe('the bytes it would free (a version; an asset to purge: all its versions); null when not known'),
  })
  .strict()
  .meta({
    id: 'RunItem',
    examples: [
      {
        action: 'expire_version',
        asset_id: '0190c6d2-5a00-7a11-8b22-3c4d5e6f7081',
        version_id: '0190c6d2-5a01-7a11-8b22-3c4d5e6f7082',
        upload_id: null,
        size_bytes: 1048576,
      },
    ],
  });
