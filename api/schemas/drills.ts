import { z } from 'zod';
import { pageQuery, uuid } from './common';

/** POST /restore-drills: every field optional; no body at all drills the newest completed backup. */
export const createDrillBody = z.object({ backup_id: uuid.optional().describe('the backup to drill; absent: the newest completed, kept backup') }).strict();

export const listDrillsQuery = z
  .object({
    ...pageQuery,
    backup_id: uuid.optional(),
    status: z.enum(['pending', 'running', 'passed', 'failed']).optional().describe('those of this status only'),
  })
  .strict();

const timestamp = z.string().datetime({ offset: true });
const count = z.number().int().min(0);

export const drillAnswer = z
  .object({
    id: uuid,
    status: z.enum(['pending', 'running', 'passed', 'failed']),
    backup_id: uuid.nullable().describe('the backup drilled (null once table retention removed its row)'),
    trigger: z.enum(['api', 'schedule']),
    assets_total: count.describe('the sampled assets (STORAGE_RESTORE_DRILL_SAMPLE_ASSETS / _BYTES, whichever comes first)'),
    assets_checked: count,
    bytes_checked: count.describe('bytes restored into the scratch prefix and found right'),
    failures: z
      .array(z.object({ asset_id: uuid, version_id: uuid.nullable(), reason: z.string() }).strict())
      .describe('what did not restore, asset by asset (the first 100)'),
    workflow_id: z.string(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
    error: z.string().nullable(),
  })
  .strict()
  .meta({
    id: 'RestoreDrill',
    examples: [
      {
        id: '0190c6d2-5c00-7933-8c44-4d5e6f708192',
        status: 'failed',
        backup_id: '0190c6d2-5a00-7911-8a22-2b3c4d5e6f70',
        trigger: 'schedule',
        assets_total: 20,
        assets_checked: 20,
        bytes_checked: 48213,
        failures: [
          {
            asset_id: '0190c6d2-5d00-7944-8d55-5e6f708192a3',
            version_id: '0190c6d2-5e00-7955-8e66-6f708192a3b4',
            reason: 'the restored bytes hash to 9f86…, the manifest says 2c26…',
          },
        ],
        workflow_id: 'restore-drill-0190c6d2-5c00-7933-8c44-4d5e6f708192',
        created_at: '2026-12-07T04:30:00.000Z',
        started_at: '2026-12-07T04:30:00.000Z',
        completed_at: '2026-12-07T04:30:02.000Z',
        error: '1 check(s) failed: …',
      },
    ],
  });
