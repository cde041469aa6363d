/**
 * The summary object beside each manifest (`manifests/{backup_id}.summary.json`), written once the
 * backup's blobs are all copied: a backup without one never completed. It holds what an import needs
 * to register the backup again from the bucket alone, as its row said: the manifest's SHA-256, size
 * and section offsets, the counts, the progress, and the row's times to the microsecond.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import type { ActorRef } from '../auth/actor';
import { UUID_PATTERN } from '../platform/ids';
import type { BackupProgress } from './catalog';
import type { BackupCounts, BackupRow, BackupScope } from './jobRows';
import { exactJobTimes } from './store';

export const SUMMARY_FORMAT = 'storage-backup-summary/2';

export interface BackupSummary {
  format: string;
  backup_id: string;
  label: string | null;
  trigger: 'api' | 'schedule';
  scope: BackupScope;
  counts: BackupCounts;
  bytes_copied: number;
  manifest: { key: string; sha256: string; size_bytes: number; assets_offset?: number; records_offset?: number; blobs_offset?: number };
  started_at: string | null;
  expires_at: string | null;
  /** Format 2 on: the row's other fields. */
  created_at?: string;
  completed_at?: string;
  progress?: BackupProgress;
  actor?: ActorRef | null;
  workflow_id?: string;
}

/** The summary of `row`, completed at `completedAt` (exact text), with its times read exactly. */
export async function summaryOf(db: Knex, row: BackupRow, progress: BackupProgress, completedAt: string): Promise<BackupSummary> {
  const times = await exactJobTimes(db, row.id);
  return {
    format: SUMMARY_FORMAT,
    backup_id: row.id,
    label: row.label,
    trigger: row.trigger,
    scope: row.scope,
    counts: row.counts!,
    bytes_copied: progress.bytes_copied,
    manifest: {
      key: row.manifest_key!,
      sha256: row.manifest_sha256!,
      size_bytes: row.manifest_size_bytes!,
      assets_offset: row.assets_offset ?? undefined,
      records_offset: row.records_offset ?? undefined,
      blobs_offset: row.blobs_offset ?? undefined,
    },
    ...times,
    completed_at: completedAt,
    progress,
    actor: row.actor,
    workflow_id: row.workflow_id,
  };
}

const count = z.number().int().min(0);
// As the API takes a label and a token's subject: one line, so that a listing shows it as it is.
const line = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');
const offset = count.optional();
const time = z.iso.datetime({ offset: true });

/** What an import accepts: format 1 (before issue 24) or 2; fields it does not know are ignored. */
const summarySchema = z.object({
  format: z.enum(['storage-backup-summary/1', SUMMARY_FORMAT]),
  backup_id: z.string(),
  label: line(256).nullable(),
  trigger: z.enum(['api', 'schedule']),
  scope: z.object({ asset_ids: z.array(z.string().regex(UUID_PATTERN, 'must be a UUID')).optional(), include_all_versions: z.boolean() }),
  counts: z.object({ assets: count, versions: count, blobs: count, bytes: count, version_bytes: count }),
  bytes_copied: count,
  manifest: z.object({
    key: z.string(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size_bytes: count,
    assets_offset: offset,
    records_offset: offset,
    blobs_offset: offset,
  }),
  started_at: time.nullable(),
  expires_at: time.nullable(),
  created_at: time.optional(),
  completed_at: time.optional(),
  progress: z.object({ objects_total: count, objects_done: count, bytes_total: count, bytes_done: count, bytes_copied: count }).loose().optional(),
  actor: z
    .object({ sub: line(255), roles: z.array(line(255)).max(16) })
    .nullable()
    .optional(),
  workflow_id: z.string().optional(),
});

/** The summary in `text`, or why it is not one. */
export function parseSummary(text: string): BackupSummary | string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return 'its summary is not JSON';
  }
  const parsed = summarySchema.safeParse(json);
  if (!parsed.success)
    return `its summary is not one this service reads (${parsed.error.issues.map((i) => `${i.path.join('.') || 'summary'}: ${i.message}`).join('; ')})`;
  return parsed.data as BackupSummary;
}
