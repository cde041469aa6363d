import { z } from 'zod';
import { TIME_EXAMPLE, backupLabel, createdFilters, jobStatusFilter, ownerId, pageQuery, singleLine, tag, uuid } from './common';

const assetIdList = z
  .array(uuid)
  .min(1, 'give at least one asset id, or leave asset_ids out for every asset')
  .max(1000, 'at most 1000 asset ids')
  .refine((ids) => new Set(ids).size === ids.length, 'asset ids must not repeat')
  .meta({ uniqueItems: true, examples: [['0190c6d2-7c3e-7d41-8a55-2f0e6b1c9a10']] });

/** POST /backups: every field optional; no body at all is a backup of every asset's current version. */
export const createBackupBody = z
  .object({
    label: backupLabel.optional(),
    asset_ids: assetIdList.optional(),
    include_all_versions: z.boolean().default(false),
  })
  .strict();

/** POST /backups/{id}/restore. */
export const restoreBody = z
  .object({
    asset_ids: assetIdList.optional(),
    mode: z.enum(['missing', 'overwrite'], { error: 'mode must be missing or overwrite' }).default('missing'),
    dry_run: z.boolean().default(true).describe('true unless said: the restore then counts what it would restore (progress.assets_total) and writes no asset'),
  })
  .strict();

/**
 * POST /restores: a restore to a point in time. At least one filter (every one given must hold) and
 * as_of not in the future are checked by the route (api/routes/restores.ts), which names the field.
 */
export const pointInTimeBody = z
  .object({
    as_of: z.iso
      .datetime({ offset: true, error: 'must be an RFC 3339 time with its offset, such as 2026-12-07T14:00:00Z' })
      .meta({ examples: [TIME_EXAMPLE] })
      .describe('the moment each asset goes back to: RFC 3339, not in the future'),
    asset_ids: assetIdList.optional().describe('these assets'),
    owner_id: ownerId.optional().describe('the assets of this owner'),
    tag: tag.optional().describe('the assets carrying this tag (as they are tagged now: tags are not versioned)'),
    group: singleLine(255)
      .min(1, 'must not be empty')
      .meta({ examples: ['strahd-players'] })
      .optional()
      .describe('the assets a grant gives to group:<group> (a campaign)'),
    dry_run: z
      .boolean()
      .default(true)
      .describe('true unless said: the restore lists, asset by asset, what it would do and from which source, and writes nothing'),
  })
  .strict()
  // At least one filter (the route refuses a body with none): stated so that a client, and a generator, can know it.
  .meta({ anyOf: ['asset_ids', 'owner_id', 'tag', 'group'].map((name) => ({ required: [name] })) });

/** POST /backups/import takes no parameters: no body, or an empty object. */
export const importBody = z.object({}).strict();

export const listBackupsQuery = z.object({ ...pageQuery, status: jobStatusFilter, ...createdFilters }).strict();

export const listRestoresQuery = z.object({ ...pageQuery, backup_id: uuid.optional(), status: jobStatusFilter, ...createdFilters }).strict();

export const restoreItemsQuery = z.object(pageQuery).strict();

// ---------------------------------------------------------------------------------------------
// The answers.

const timestamp = z.string().datetime({ offset: true });
const id = uuid;
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);
const status = z.enum(['pending', 'running', 'completed', 'failed']);

export const backupAnswer = z
  .object({
    id,
    status,
    label: z.string().nullable(),
    scope: z.object({ asset_ids: z.array(id).optional(), include_all_versions: z.boolean() }).strict(),
    progress: z
      .object({ objects_total: count, objects_done: count, bytes_total: count, bytes_done: count, bytes_copied: count })
      .strict()
      .describe('objects are the distinct contents the backup holds; bytes_copied counts only what this backup copied'),
    counts: z.object({ assets: count, versions: count, blobs: count, bytes: count, version_bytes: count }).strict().nullable(),
    manifest_key: z.string().nullable(),
    manifest_sha256: sha256.nullable(),
    workflow_id: z.string(),
    trigger: z.enum(['api', 'schedule']),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
    expires_at: timestamp.nullable(),
    removed_at: timestamp.nullable().describe('set when retention removed the backup; it can no longer be restored'),
    verified_restore_at: timestamp
      .nullable()
      .describe('when a restore drill last proved the backup restorable (a sample restored and checked byte for byte); null until one passed'),
    verified_by_drill: id.nullable().describe('the restore drill that did (/api/v2/restore-drills/{id})'),
    error: z.string().nullable(),
  })
  .strict()
  .meta({
    id: 'Backup',
    examples: [
      {
        id: '0190c6d2-5a00-7911-8a22-2b3c4d5e6f70',
        status: 'running',
        label: 'before the campaign reset',
        scope: { include_all_versions: false },
        progress: { objects_total: 120, objects_done: 40, bytes_total: 52428800, bytes_done: 17476266, bytes_copied: 17476266 },
        counts: null,
        manifest_key: null,
        manifest_sha256: null,
        workflow_id: 'backup-0190c6d2-5a00-7911-8a22-2b3c4d5e6f70',
        trigger: 'api',
        created_at: '2026-12-07T14:00:00.000Z',
        started_at: '2026-12-07T14:00:00.000Z',
        completed_at: null,
        expires_at: null,
        removed_at: null,
        verified_restore_at: null,
        verified_by_drill: null,
        error: null,
      },
    ],
  });

export const importAnswer = z
  .object({
    imported: z.array(backupAnswer).describe('the backups registered now, newest first'),
    known: z.array(id).describe('backups of the bucket the catalog knew already'),
    refused: z
      .array(z.object({ backup_id: id, manifest_key: z.string(), error: z.string() }).strict())
      .describe('manifests not registered, and why: no summary (the backup never completed), or not what the summary records'),
  })
  .strict();

const pointInTimeSource = z.enum(['version', 'backup', 'unchanged', 'skipped']);

/** One asset of a restore: for a restore to a point in time, where its bytes at as_of came from; for every restore, what it did. */
export const pointInTimeItem = z
  .object({
    asset_id: id,
    status: z
      .enum(['restored', 'planned', 'skipped', 'failed'])
      .describe('restored: written; planned: a dry run would write it; skipped: unchanged, left alone, or skipped (see reason); failed: see reason'),
    source: pointInTimeSource
      .nullable()
      .describe(
        "version: a kept version reached back; backup: the newest backup at or before as_of held it; unchanged: its content already is; skipped: see reason. null: an asset of a backup's restore",
      ),
    source_version_id: id.nullable().describe('the version whose bytes it had at as_of: a kept one, or the one the backup holds'),
    source_backup_id: id.nullable(),
    sha256: sha256.nullable().describe('the SHA-256 of the bytes it had at as_of'),
    version_id: id.nullable().describe('the new version the restore made'),
    undeleted: z.boolean().describe('it was soft-deleted after as_of and is live again'),
    reason: z.string().nullable(),
  })
  .strict()
  .meta({ id: 'RestoreItem' });

export const restoreAnswer = z
  .object({
    id,
    backup_id: id.nullable().describe('the backup restored; null for a restore to a point in time (it reads whichever backups reach back)'),
    status,
    mode: z.enum(['missing', 'overwrite', 'point_in_time']),
    as_of: timestamp.optional().describe('a restore to a point in time: the moment'),
    filter: z
      .object({ asset_ids: z.array(id).optional(), owner_id: z.string().optional(), tag: z.string().optional(), group: z.string().optional() })
      .strict()
      .optional()
      .describe('a restore to a point in time: which assets'),
    sources: z
      .object({ version: count, backup: count, unchanged: count, skipped: count })
      .strict()
      .optional()
      .describe('a restore to a point in time: how many assets each source gave (one restore read alone)'),
    items: z.array(pointInTimeItem).optional().describe('a restore to a point in time: asset by asset, the first 100 by asset id (one restore read alone)'),
    items_next: z.string().nullable().optional().describe('the next page of items (GET it), when there are more'),
    asset_ids: z.array(id).nullable(),
    dry_run: z
      .boolean()
      .describe('a dry run counts what it would restore (progress.assets_total, failed_assets for what the backup lacks) and writes no asset'),
    progress: z
      .object({
        assets_total: count,
        assets_done: count,
        assets_restored: count,
        assets_skipped: count,
        assets_failed: count,
        versions_restored: count.describe('version rows written back'),
        objects_copied: count.describe('objects written back into the asset bucket, also of versions whose row was there'),
        bytes_done: count,
        bytes_copied: count,
      })
      .strict(),
    failed_assets: z.array(z.object({ asset_id: id, error: z.string() }).strict()).optional(),
    workflow_id: z.string(),
    created_at: timestamp,
    started_at: timestamp.nullable(),
    completed_at: timestamp.nullable(),
    error: z.string().nullable(),
  })
  .strict()
  .meta({
    id: 'Restore',
    examples: [
      {
        id: '0190c6d2-5b00-7922-8b33-3c4d5e6f7081',
        backup_id: '0190c6d2-5a00-7911-8a22-2b3c4d5e6f70',
        status: 'completed',
        mode: 'missing',
        asset_ids: null,
        progress: {
          assets_total: 12,
          assets_done: 12,
          assets_restored: 2,
          assets_skipped: 10,
          assets_failed: 0,
          versions_restored: 2,
          objects_copied: 2,
          bytes_done: 96426,
          bytes_copied: 96426,
        },
        workflow_id: 'restore-0190c6d2-5b00-7922-8b33-3c4d5e6f7081',
        created_at: '2026-12-07T14:00:00.000Z',
        started_at: '2026-12-07T14:00:00.000Z',
        completed_at: '2026-12-07T14:00:00.000Z',
        error: null,
      },
    ],
  });
