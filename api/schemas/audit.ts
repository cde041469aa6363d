import { z } from 'zod';
import { TIME_EXAMPLE, deprecatedName, ownerId, pageQuery, singleLine, uuid } from './common';

const time = z.iso
  .datetime({ offset: true })
  .meta({ examples: [TIME_EXAMPLE] })
  .transform((v) => new Date(v));

/**
 * A time to compare to the microsecond `at` shows: UTC, its fraction kept whole (a Date keeps the
 * millisecond alone), so a row's own `at` given back excludes that row and no other.
 */
const exactTime = z.iso
  .datetime({ offset: true })
  .meta({ examples: ['2026-12-01T18:00:00.123456Z'] })
  .transform((v, ctx) => {
    const date = new Date(v);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'must be a date and time that exists' });
      return z.NEVER;
    }
    const micros = (/\.(\d+)/.exec(v)?.[1] ?? '').padEnd(6, '0').slice(3, 6);
    return date.toISOString().replace('Z', `${micros}Z`);
  });

/**
 * GET /audit: every filter optional. The time filters are those of every list: created_after and
 * created_before, each excluding the time itself (to the microsecond `at` shows); since and until,
 * their deprecated names, keep their range [since, until).
 */
export const listAuditQuery = z
  .object({
    ...pageQuery,
    actor: ownerId.optional().describe("a token's sub, or system"),
    action: singleLine(64)
      .regex(/^[a-z_]+\.[a-z_]+$/, 'must be an action such as asset.delete')
      .meta({ examples: ['asset.delete'] })
      .optional(),
    subject: uuid.optional().describe('an asset, version, upload, policy, backup or restore id'),
    outcome: singleLine(32)
      .regex(/^([1-5][0-9][0-9]|[a-z_]+)$/, 'must be an HTTP status such as 403, or a workflow result such as completed')
      .meta({ examples: ['403'] })
      .optional(),
    request_id: singleLine(256)
      .min(1, 'must not be empty')
      .meta({ examples: ['d35dc539-ec13-45d0-88a2-1f1bbe425d9c'] })
      .optional()
      .describe("a request's X-Request-Id, or a run's workflow id: the row it stands in, folded or not"),
    created_after: exactTime.optional().describe('rows whose at is after this time'),
    created_before: exactTime.optional().describe('rows whose at is before this time'),
    since: deprecatedName(time.optional(), 'created_after', ' (since includes the time itself)'),
    until: deprecatedName(time.optional(), 'created_before'),
  })
  .strict();

const id = uuid;
export const auditRow = z
  .object({
    id: z.string(),
    at: z.iso.datetime({ offset: true }),
    actor: z
      .object({ sub: z.string(), roles: z.array(z.string()) })
      .strict()
      .nullable()
      .describe('null: no verified token'),
    action: z.string(),
    subjects: z.object({ asset_id: id, version_id: id, upload_id: id, policy_id: id, backup_id: id, restore_id: id }).partial().strict(),
    outcome: z.string(),
    count: z.number().int().min(1).describe('refusals folded into this row (one actor, action and outcome within a minute); 1 otherwise'),
    request_id: z.string().nullable().describe("the request's X-Request-Id, or the workflow id of a run's commit"),
    request_ids: z
      .array(z.string())
      .max(100)
      .describe("the requests the row stands for: its request_id, or a folded row's first 100 (count says how many there were)"),
    client_address: z.string().nullable(),
    user_agent: z.string().nullable(),
  })
  .strict()
  .meta({ id: 'AuditEntry' });
