/**
 * The import (POST /api/v2/backups/import, `storage backup import`; docs/recovery.md): every
 * manifest in the backup bucket that the catalog does not know is registered as the completed backup
 * it was, from its summary, once the whole manifest is read and found to be of the SHA-256 and size
 * the summary records. Its sections are found by reading it (a summary written before issue 24 does
 * not record them; a newer one must agree). A manifest without a summary (its backup never
 * completed), or that does not check out, is refused and named; nothing is registered for it. Its
 * lines must be ones this service writes (lib/backups/manifestChecks.ts): the bucket is the import's
 * only source, and a summary proves only that the manifest was not damaged, not who wrote it. Both
 * are read a line, or a bounded object, at a time. An id the catalog holds as a restore's is refused.
 *
 * Registering is all it does: nothing is restored, nothing in the bucket changes. Run twice, the
 * second finds every backup known.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import type { Readable } from 'node:stream';
import type { AuditTrail } from '../audit/log';
import { isNotFound } from '../platform/storedObjects';
import { backupWorkflowId } from '../../workflows/backups/definitions';
import { listManifests, type StoredManifest } from './bucket';
import { getBackup, summaryKeyFor } from './catalog';
import { type BackupCounts, type JobRow } from './jobRows';
import { hashManifest, ManifestCorruptError, type HeaderLine } from './manifest';
import { manifestChecker } from './manifestChecks';
import { parseSummary, type BackupSummary } from './summary';
import { insertImportedBackup, jobKindsOf } from './store';

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
  const kinds = new Map<string, string>(
    (
      await jobKindsOf(
        db,
        manifests.map((m) => m.backupId),
      )
    ).map((row) => [row.id, row.kind]),
  );
  const result: ImportResult = { imported: [], known: [], refused: [] };
  for (const manifest of manifests) {
    const kind = kinds.get(manifest.backupId);
    if (kind === 'backup') {
      result.known.push(manifest.backupId);
      continue;
    }
    if (kind) {
      result.refused.push({ backup_id: manifest.backupId, manifest_key: manifest.key, error: `its id is that of a ${kind} this catalog holds` });
      continue;
    }
    const checked = await checkManifest(s3, backupBucket, manifest);
    if (typeof checked === 'string') {
      result.refused.push({ backup_id: manifest.backupId, manifest_key: manifest.key, error: checked });
      continue;
    }
    await db.transaction(async (trx) => {
      const inserted = await insertImportedBackup(trx, rowOf(trx, manifest, checked));
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

/** A summary is a few hundred bytes, or tens of kilobytes with 1,000 asset ids in its scope: a larger one is none of ours. */
export const MAX_SUMMARY_BYTES = 1024 * 1024;

/** The summary's text, or why there is none to read. */
async function readSummary(s3: S3Client, bucket: string, backupId: string): Promise<{ text: string; writtenAt: Date | undefined } | string> {
  const key = summaryKeyFor(backupId);
  let object;
  try {
    object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (err) {
    if (isNotFound(err)) return `no summary ${key}: the backup never completed`;
    throw err;
  }
  const body = object.Body as Readable;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_SUMMARY_BYTES) return `its summary ${key} is larger than ${MAX_SUMMARY_BYTES} bytes`;
      chunks.push(chunk);
    }
  } finally {
    body.destroy();
  }
  return { text: Buffer.concat(chunks).toString('utf8'), writtenAt: object.LastModified };
}

/** The manifest's summary and its sections, once everything checks out; otherwise why not. */
async function checkManifest(s3: S3Client, bucket: string, manifest: StoredManifest): Promise<CheckedManifest | string> {
  const read = await readSummary(s3, bucket, manifest.backupId);
  if (typeof read === 'string') return read;
  const summary = parseSummary(read.text);
  if (typeof summary === 'string') return summary;
  if (summary.backup_id !== manifest.backupId || summary.manifest.key !== manifest.key) {
    return `its summary is of backup ${summary.backup_id} (manifest ${summary.manifest.key})`;
  }
  // Not read at all when it is not of the size its summary records.
  const recorded = summary.manifest;
  if (manifest.sizeBytes !== recorded.size_bytes)
    return `manifest ${manifest.key} is of ${manifest.sizeBytes} bytes; its summary records ${recorded.size_bytes}`;

  const checker = manifestChecker(manifest.backupId, manifest.key);
  let hashed: { sha256: string; sizeBytes: number };
  try {
    hashed = await hashManifest(s3, { bucket, key: manifest.key, sizeBytes: manifest.sizeBytes }, checker.visit);
  } catch (err) {
    if (err instanceof ManifestCorruptError) return err.message;
    throw err;
  }
  if (hashed.sha256 !== recorded.sha256 || hashed.sizeBytes !== recorded.size_bytes) {
    return `manifest ${manifest.key} hashes to ${hashed.sha256} (${hashed.sizeBytes} bytes); its summary records ${recorded.sha256} (${recorded.size_bytes} bytes)`;
  }
  const lines = checker.done();
  if (typeof lines === 'string') return lines;
  const { header, end, offsets } = lines;
  const disagrees = (['assets', 'records', 'blobs'] as const).filter((s) => recorded[`${s}_offset`] !== undefined && recorded[`${s}_offset`] !== offsets[s]);
  if (disagrees.length) return `its summary places the manifest's ${disagrees.join(', ')} lines elsewhere than they are`;
  const counted = (['assets', 'versions', 'blobs', 'bytes', 'version_bytes'] as const).filter((k) => end[k] !== summary.counts[k]);
  if (counted.length) return `its summary's counts (${counted.join(', ')}) are not the manifest's`;
  return { summary, summaryWrittenAt: read.writtenAt, header, offsets };
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
