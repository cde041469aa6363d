/**
 * The backup bucket: its blobs hashed against their address (a share of them per run, like the
 * versions' sample: backup_blob_damaged), then the blobs that the retained backups' manifests name
 * looked up (backup_blob_missing). Either is repaired from a live object that hashes right; else it is
 * recorded damaged (backup_blob_checks) and unrepairable. A manifest that cannot be read (gone, cut
 * short, corrupt) is a finding of its own (backup_manifest_unreadable), not a step retried until the scrub fails.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { BLOB_PREFIX, blobKeyFor } from '../../lib/backups/catalog';
import { ManifestCorruptError, readManifestLines, type BlobLine } from '../../lib/backups/manifest';
import { recordBlobDamaged, recordBlobVerified } from '../../lib/backups/store';
import { hashWithin, restoreBlob } from '../../lib/scrub/repair';
import { countCompletedScrubs, retainedBackups } from '../../lib/scrub/store';
import { mapLimit } from '../../lib/platform/concurrency';
import { headObject, isNotFound } from '../../lib/platform/storedObjects';
import { acted, audit, found, overBudget, type Step } from './step';

const SHA256 = /^[0-9a-f]{64}$/;
const HEADS_AT_ONCE = 8;

/** Whether this run's share holds the blob: its address's place on 0..100, from where this run's share begins. */
export function inShare(sha256: string, percent: number, rotation: number): boolean {
  if (percent >= 100) return true;
  const place = (parseInt(sha256.slice(0, 8), 16) / 0x1_0000_0000) * 100;
  return (place - rotation + 100) % 100 < percent;
}

/** Hashes this run's share of the blobs from the cursor; true once listed to the end. */
export async function scrubBlobs(step: Step): Promise<boolean> {
  const { s3, config, db } = step.deps;
  if (step.cursor.rotation === undefined) {
    step.cursor = { rotation: ((await countCompletedScrubs(db)) * step.row.sample_percent) % 100 };
  }
  for (;;) {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: config.s3.backupBucket, Prefix: BLOB_PREFIX, StartAfter: step.cursor.key, MaxKeys: step.pageSize }),
    );
    for (const o of page.Contents ?? []) {
      // blobs/sha256/<first two>/<sha256>: the address is the key's last part, and must be where blobKeyFor puts it.
      const sha256 = o.Key!.slice(o.Key!.lastIndexOf('/') + 1);
      if (SHA256.test(sha256) && o.Key === blobKeyFor(sha256) && inShare(sha256, step.row.sample_percent, step.cursor.rotation!))
        await checkBlob(step, sha256, o.Key!);
      step.cursor = { ...step.cursor, key: o.Key! };
    }
    step.beat();
    if (!page.IsTruncated) return true;
    if (overBudget(step)) return false;
  }
}

async function checkBlob(step: Step, sha256: string, key: string): Promise<void> {
  const got = await hashWithin(step.reader, { bucket: step.deps.config.s3.backupBucket, key });
  if (!got) return; // gone since the listing: retention deleted it
  if (got.sha256 === sha256) {
    if (!step.row.dry_run) await recordBlobVerified(step.deps.db, sha256, got.sizeBytes);
    return;
  }
  await onBlobFinding(step, sha256, undefined, 'backup_blob_damaged', `the blob ${key} hashes to ${got.sha256} (${got.sizeBytes} bytes)`);
}

/** A blob damaged or missing: counted; outside a dry run put back from a live object, else recorded damaged. */
async function onBlobFinding(
  step: Step,
  sha256: string,
  sizeBytes: number | undefined,
  kind: 'backup_blob_damaged' | 'backup_blob_missing',
  what: string,
): Promise<void> {
  await found(step, kind, sha256, what);
  step.deps.logger.warn('scrub finding', { scrub_id: step.row.id, kind, sha256, what });
  if (step.row.dry_run) return;
  const from = await restoreBlob(step.reader, sha256, sizeBytes);
  if (from) {
    await recordBlobVerified(step.deps.db, sha256, from.size_bytes);
    await audit(step, step.deps.db, {
      action: 'scrub.blob_repaired',
      outcome: `${kind}: ${sha256} from the object of version ${from.id}`,
      subjects: { asset_id: from.asset_id, version_id: from.id },
    });
    await acted(step, kind, sha256, 'repaired', `repaired from the object of version ${from.id} (${from.object_key})`);
    return;
  }
  await recordBlobDamaged(step.deps.db, sha256, sizeBytes ?? 0, `${what}; no live object holds its content`);
  await acted(step, kind, sha256, 'unrepairable');
}

/** Looks up every blob the retained backups' manifests name, from the cursor; true once every manifest is read. */
export async function scrubManifests(step: Step): Promise<boolean> {
  const { db } = step.deps;
  for (;;) {
    if (!step.cursor.backupId) {
      const [first] = await retainedBackups(db, null, 1);
      if (!first) return true;
      step.cursor = { backupId: first.id, offset: first.blobs_offset };
    }
    // Removed by retention since: its blobs are no longer promised.
    const [backup] = (await retainedBackups(db, null, 1, step.cursor.backupId)) ?? [];
    if (backup && !(await scrubManifest(step, backup))) return false;
    const [next] = await retainedBackups(db, step.cursor.backupId!, 1);
    if (!next) return true;
    step.cursor = { backupId: next.id, offset: next.blobs_offset };
    step.beat();
    if (overBudget(step)) return false;
  }
}

type RetainedBackup = { id: string; manifest_key: string; manifest_size_bytes: number; blobs_offset: number };

/** One manifest's blobs looked up; one that cannot be read is found unreadable (no retry reads it), and done with. */
async function scrubManifest(step: Step, backup: RetainedBackup): Promise<boolean> {
  try {
    return await scrubManifestBlobs(step, backup);
  } catch (err) {
    const why = unreadableBecause(err);
    if (!why) throw err;
    const kind = 'backup_manifest_unreadable';
    await found(step, kind, backup.id, `the manifest ${backup.manifest_key} ${why}: the blobs it names cannot be looked up`);
    step.deps.logger.warn('scrub finding', { scrub_id: step.row.id, kind, backup_id: backup.id, why });
    if (!step.row.dry_run) await acted(step, kind, backup.id, 'unrepairable');
    return true;
  }
}

function unreadableBecause(err: unknown): string | undefined {
  if (err instanceof ManifestCorruptError) return `is corrupt (${err.message})`;
  if (isNotFound(err)) return 'is missing from the backup bucket';
  // S3's answer to a range past the end: the object is shorter than the backup's row says.
  if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return 'is shorter than its backup says';
  return undefined;
}

/** One manifest's blob lines from the cursor's offset, a page of HEADs at a time; true at its end line. */
async function scrubManifestBlobs(step: Step, backup: RetainedBackup): Promise<boolean> {
  const manifest = { bucket: step.deps.config.s3.backupBucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
  let batch: Array<{ line: BlobLine; end: number }> = [];
  const flush = async () => {
    await checkPresent(
      step,
      batch.map((b) => b.line),
    );
    if (batch.length) step.cursor = { backupId: backup.id, offset: batch[batch.length - 1].end };
    batch = [];
    step.beat();
  };
  const start = Math.max(step.cursor.offset ?? backup.blobs_offset, backup.blobs_offset);
  for await (const read of readManifestLines(step.deps.s3, manifest, start, step.reader.signal)) {
    if (read.line.type === 'end') {
      await flush();
      return true;
    }
    if (read.line.type !== 'blob') continue;
    batch.push({ line: read.line, end: read.end });
    if (batch.length >= step.pageSize) {
      await flush();
      if (overBudget(step)) return false;
    }
  }
  await flush();
  return true;
}

async function checkPresent(step: Step, lines: BlobLine[]): Promise<void> {
  const bucket = step.deps.config.s3.backupBucket;
  const heads = await mapLimit(lines, HEADS_AT_ONCE, (l) => headObject(step.deps.s3, { bucket, key: l.key }, step.reader.signal));
  for (const [i, line] of lines.entries()) {
    if (heads[i]) continue;
    await onBlobFinding(step, line.sha256, line.size_bytes, 'backup_blob_missing', `the blob ${line.key} is missing from the backup bucket`);
  }
}
