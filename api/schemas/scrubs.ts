import { z } from 'zod';
import { createdFilters, jobStatusFilter, pageQuery, uuid } from './common';
import { MIN_SAMPLE_PERCENT } from '../../lib/platform/scrubSample';
import { FINDING_KINDS } from '../../workflows/scrub/definitions';

/** POST /scrubs: both optional; no body at all is a scrub that repairs, of the configured share. */
export const createScrubBody = z
  .object({
    dry_run: z.boolean().default(false).describe('true: count what it finds, change nothing (no removal, no repair, no mark)'),
    sample_percent: z
      .number({ error: 'sample_percent must be a number over 0 and at most 100' })
      // The scrub row keeps three decimals (numeric(6,3)): a smaller share would be stored as 0.
      .min(MIN_SAMPLE_PERCENT, `sample_percent must be at least ${MIN_SAMPLE_PERCENT}`)
      .max(100, 'sample_percent must be at most 100')
      .meta({ examples: [25] })
      .optional()
      .describe('the share of objects re-read and hashed (those verified longest ago first); STORAGE_SCRUB_SAMPLE_PERCENT unless given'),
  })
  .strict();

const findingKind = z.enum(FINDING_KINDS);

export const listFindingsQuery = z.object({ ...pageQuery, kind: findingKind.optional().describe('those of this kind only') }).strict();

export const findingAnswer = z
  .object({
    kind: findingKind,
    subject: z
      .string()
      .describe(
        'what it concerns: a version id (missing_object, checksum_mismatch), an object key (orphan_object), "key upload-id" (incomplete_multipart), a SHA-256 (backup blobs), a backup id (backup_manifest_unreadable)',
      ),
    outcome: z.enum(['repaired', 'unrepairable']).nullable().describe('what the scrub did about it; null in a dry run'),
    detail: z.string().nullable(),
    found_at: z.string().datetime({ offset: true }),
  })
  .strict()
  .meta({ id: 'ScrubFinding' });

export const listScrubsQuery = z.object({ ...pageQuery, status: jobStatusFilter, ...createdFilters }).strict();

const count = z.number().int().min(0);
const timestamp = z.string().datetime({ offset: true });

export const scrubAnswer = z
  .object({
    id: uuid,
    status: z.enum(['pending', 'running', 'completed', 'failed']),
    dry_run: z.boolean(),
    sample_percent: z.number(),
    trigger: z.enum(['api', 'schedule']),
    actor: z.string().nullable().describe('whom it acted for (system for a scheduled one)'),
    phase: z.enum(['objects', 'multipart', 'sample', 'blobs', 'manifests', 'done']).describe('the pass it is in'),
    counts: z
      .object({
        orphan_object: count,
        missing_object: count,
        incomplete_multipart: count,
        checksum_mismatch: count,
        backup_blob_damaged: count,
        backup_blob_missing: count,
        backup_manifest_unreadable: count,
      })
      .strict()
      .describe('findings per kind (in a dry run: what it would have acted on)'),
    findings: count.describe('the sum of counts'),
    repaired: count.describe('findings put right: objects and blobs put back, orphans removed, uploads aborted'),
    unrepairable: count.describe('findings nothing could put right: versions marked damaged, blobs recorded damaged'),
    bytes_hashed: count,
    objects_listed: count,
    workflow_id: z.string(),
    error: z.string().nullable(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
  })
  .strict()
  .meta({
    id: 'Scrub',
    examples: [
      {
        id: '0190c6d2-5c00-7933-8c44-4d5e6f708192',
        status: 'completed',
        dry_run: false,
        sample_percent: 25,
        trigger: 'schedule',
        actor: 'system',
        phase: 'done',
        counts: {
          orphan_object: 1,
          missing_object: 1,
          incomplete_multipart: 0,
          checksum_mismatch: 1,
          backup_blob_damaged: 0,
          backup_blob_missing: 0,
          backup_manifest_unreadable: 0,
        },
        findings: 3,
        repaired: 3,
        unrepairable: 0,
        bytes_hashed: 104857600,
        objects_listed: 1200,
        workflow_id: 'scrub-0190c6d2-5c00-7933-8c44-4d5e6f708192',
        error: null,
        created_at: '2026-12-07T04:00:00.000Z',
        started_at: '2026-12-07T04:00:00.000Z',
        completed_at: '2026-12-07T04:10:00.000Z',
      },
    ],
  });
