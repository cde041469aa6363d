/**
 * The operation resource (AIP-151, Azure's long-running operations): one shape and one status enum
 * for every asynchronous piece of work (api/http/operations.ts), and the headers its starts carry.
 */
import { z } from 'zod';
import type { HeaderDoc } from '../http/route';

const timestamp = z.string().datetime({ offset: true });

export const OPERATION_KINDS = ['upload', 'backup', 'restore', 'restore_drill', 'lifecycle_run', 'asset_deletion', 'scrub'] as const;
export const OPERATION_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;

export const operationParams = z.object({
  id: z
    .string()
    .max(200)
    .meta({ examples: ['upload-0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10'] })
    .describe(
      "the workflow id of the work: upload-{id}, backup-{id}, restore-{id}, restore-drill-{id}, lifecycle-{id}, delete-asset-{asset_id}, scrub-{id}; anything else, or another's, is 404",
    ),
});

export const operation = z
  .object({
    id: z.string().describe('the id of the work, which is also its workflow id'),
    kind: z.enum(OPERATION_KINDS),
    status: z.enum(OPERATION_STATUSES),
    done: z.boolean().describe('true once status is succeeded, failed or cancelled'),
    progress: z.record(z.string(), z.unknown()).nullable().describe("the work's own progress (its resource's), null when it has none"),
    error: z
      .object({ type: z.string(), title: z.string(), status: z.number().int(), detail: z.string() })
      .catchall(z.unknown())
      .nullable()
      .describe('why it failed or was cancelled, as a problem; null otherwise'),
    resource: z.string().describe('the href of its own resource (the upload session, backup, restore, restore drill, run, asset or scrub)'),
    result: z.string().nullable().describe('once succeeded, the href of what it made (an upload: its version); null before, or when it makes nothing'),
    workflow_id: z.string().describe('its run in the Temporal UI (search by workflow id)'),
    created_at: timestamp,
  })
  .strict();

/** What every 202 of a start carries beside its own fields. */
export const operationFields = {
  operation_id: z.string().describe('the operation to follow (GET operation_url)'),
  operation_url: z.string().describe('/api/v2/operations/{operation_id}, as Location says'),
};

export const ACCEPTED_HEADERS: Record<string, HeaderDoc> = {
  Location: { required: true, description: 'the operation to follow: /api/v2/operations/{id}', schema: { type: 'string' } },
  'Retry-After': { required: true, description: 'seconds to wait before reading the operation', schema: { type: 'integer', minimum: 0 } },
};

export const PREFERENCE_APPLIED_HEADER: Record<string, HeaderDoc> = {
  'Preference-Applied': { description: 'wait=N: the Prefer wait the answer honoured (RFC 7240)', schema: { type: 'string', examples: ['wait=10'] } },
};

export const PREFER_HEADER: Record<string, HeaderDoc> = {
  Prefer: {
    description:
      'wait=N (RFC 7240): wait up to N seconds (at most the request timeout) for the work to end, and answer its result; ' +
      'else the 202 with the operation, as soon as the work is started (wait=0 answers at once)',
    schema: { type: 'string', examples: ['wait=10'] },
  },
};
