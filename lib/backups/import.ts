/**
 * The import (POST /api/v2/backups/import, `storage backup import`; docs/recovery.md): every
 * manifest in the backup bucket that the catalog does not know is registered as the completed backup
 * it was, from its summary, once the whole manifest is read and found to be of the SHA-256 and size
 * the summary records. Its sections are found by reading it (a summary written before issue 24 does
 * not record them; a newer one must agree). A manifest without a summary (its backup never
 * completed), or that does not check out, is refused and named; nothing is registered for it.
 *
 * Registering is all it does: nothing is restored, nothing in the bucket changes. Run twice, the
 * second finds every backup known.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import type { AuditTrail } from '../audit/log';
import { isNotFound } from '../platform/objects';
import { backupWorkflowId } from '../../workflows/backups/definitions';
import { listManifests, type StoredManifest } from './bucket';
import { getBackup, summaryKeyFor, type BackupCounts, type JobRow } from './catalog';
import { hashManifest, ManifestCorruptError, type HeaderLine, type EndLine } from './manifest';
import { parseSummary, type BackupSummary } from './summary';

export interface RefusedManifest {
  backup_id: string;
  manifest_key: string;
  error: string;
}

export interface ImportResult {
  /** Newest first. */
  imported: JobRow[];
  /** Backups of the bucket the catalog knew already. */
  known: string[];
  refused: RefusedManifest[];
}

export async function importBackups(db: Knex, s3: S3Client, backupBucket: string, trail: AuditTrail): Promise<ImportResult> {
  const manifests = await listManifests(s3, backupBucket);
  const knownIds = new Set<string>(
    await db('backup_jobs')
      .where({ kind: 'backup' })
      .whereIn(
        'id',
        manifests.map((m) => m.backupId),
      )
      .pluck('id'),
  );
  const result: ImportResult = { imported: [], known: [], refused: [] };
  for (const manifest of manifests) {
    if (knownIds.has(manifest.backupId)) {
      result.known.push(manifest.backupId);
      continue;
    }
    const checked = await checkManifest(s3, backupBucket, manifest);
    if (typeof checked === 'string') {
      result.refused.push({ backup_id: manifest.backupId, manifest_key: manifest.key, error: checked });
      continue;
    }
    await db.transaction(async (trx) => {
      const inserted = await trx('backup_jobs')
        .insert(rowOf(trx, manifest, checked))
        .onConflict('id')
        .ignore()
        .returning('id');
      // Registered meanwhile by another import: that one recorded it.
      if (inserted.length) await trail.record(trx, { backup_id: manifest.backupId });
    });
    result.imported.push(await getBackup(db, manifest.backupId));
  }
  return result;
}

interface CheckedManifest {
  summary: BackupSummary;
  /** When the summary was written: the completion time of a backup whose summary does not say. */
  summaryWrittenAt: Date | undefined;
  header: HeaderLine;
  offsets: { assets: number; records: number; blobs: number };
}

/** The manifest's summary and its sections, once everything checks out; otherwise why not. */
async function checkManifest(s3: S3Client, bucket: string, manifest: StoredManifest): Promise<CheckedManifest | string> {
  let text: string;
  let summaryWrittenAt: Date | undefined;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: summaryKeyFor(manifest.backupId) }));
    text = await object.Body!.transformToString();
    summaryWrittenAt = object.LastModified;
  } catch (err) {
    if (isNotFound(err)) return `no summary ${summaryKeyFor(manifest.backupId)}: the backup never completed`;
    throw err;
  }
  const summary = parseSummary(text);
  if (typeof summary === 'string') return summary;
  if (summary.backup_id !== manifest.backupId || summary.manifest.key !== manifest.key) {
    return `its summary is of backup ${summary.backup_id} (manifest ${summary.manifest.key})`;
  }

  const offsets = { assets: -1, records: -1, blobs: -1 };
  let header: HeaderLine | undefined;
  let end: EndLine | undefined;
  let hashed: { sha256: string; sizeBytes: number };
  try {
    hashed = await hashManifest(s3, { bucket, key: manifest.key, sizeBytes: manifest.sizeBytes }, ({ line, start, end: after }) => {
      if (line.type === 'header' && start === 0) {
        header = line;
        offsets.assets = after;
      }
      if (line.type === 'record' && offsets.records < 0) offsets.records = start;
      if ((line.type === 'blob' || line.type === 'end') && offsets.blobs < 0) {
        offsets.blobs = start;
        if (offsets.records < 0) offsets.records = start;
      }
      if (line.type === 'end') end = line;
    });
  } catch (err) {
    if (err instanceof ManifestCorruptError) return err.message;
    throw err;
  }
  const recorded = summary.manifest;
  if (hashed.sha256 !== recorded.sha256 || hashed.sizeBytes !== recorded.size_bytes) {
    return `manifest ${manifest.key} hashes to ${hashed.sha256} (${hashed.sizeBytes} bytes); its summary records ${recorded.sha256} (${recorded.size_bytes} bytes)`;
  }
  if (!header || header.backup_id !== manifest.backupId) return `manifest ${manifest.key} has no header of backup ${manifest.backupId}`;
  if (!end) return `manifest ${manifest.key} has no end line`;
  const disagrees = (['assets', 'records', 'blobs'] as const).filter((s) => recorded[`${s}_offset`] !== undefined && recorded[`${s}_offset`] !== offsets[s]);
  if (disagrees.length) return `its summary places the manifest's ${disagrees.join(', ')} lines elsewhere than they are`;
  const counted = (['assets', 'versions', 'blobs', 'bytes', 'version_bytes'] as const).filter((k) => end![k] !== summary.counts[k]);
  if (counted.length) return `its summary's counts (${counted.join(', ')}) are not the manifest's`;
  return { summary, summaryWrittenAt, header, offsets };
}

function rowOf(trx: Knex.Transaction, manifest: StoredManifest, { summary, summaryWrittenAt, header, offsets }: CheckedManifest) {
  const counts: BackupCounts = summary.counts;
  const progress = summary.progress ?? {
    objects_total: counts.blobs,
    objects_done: counts.blobs,
    bytes_total: counts.bytes,
    bytes_done: counts.bytes,
    bytes_copied: summary.bytes_copied,
  };
  return {
    id: manifest.backupId,
    kind: 'backup',
    status: 'completed',
    label: summary.label,
    scope: JSON.stringify(summary.scope),
    progress: JSON.stringify(progress),
    trigger: summary.trigger,
    actor: summary.actor ? JSON.stringify(summary.actor) : null,
    workflow_id: summary.workflow_id ?? backupWorkflowId(manifest.backupId),
    manifest_key: manifest.key,
    manifest_sha256: summary.manifest.sha256,
    manifest_size_bytes: summary.manifest.size_bytes,
    assets_offset: offsets.assets,
    records_offset: offsets.records,
    blobs_offset: offsets.blobs,
    // From now on, retention keeps every blob it names (it kept them before too: the bucket holds the manifest).
    manifest_written_at: trx.fn.now(),
    counts: JSON.stringify(counts),
    created_at: summary.created_at ?? summary.started_at ?? header.snapshot_at,
    started_at: summary.started_at,
    completed_at: summary.completed_at ?? summaryWrittenAt ?? header.snapshot_at,
    expires_at: summary.expires_at,
    imported_at: trx.fn.now(),
  };
}
