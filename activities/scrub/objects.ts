/**
 * The scrub's first two passes over the asset bucket: its listing merged with the catalog's versions
 * in key order (orphan_object, missing_object), then its incomplete multipart uploads
 * (incomplete_multipart). Each goes a page at a time from the cursor until done or out of time.
 */
import { DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { mergePage, type ListedObject } from '../../lib/scrub/merge';
import type { Knex } from 'knex';
import { keysWithVersions, versionsByKey, type ScrubVersion } from '../../lib/scrub/store';
import { lockObjectKeys } from '../../lib/assets/store';
import { keysOfSessionsInProgress } from '../../lib/uploads/store';
import { abortMultipartUpload, listIncompleteUploads } from '../../lib/platform/multipart';
import { headObject } from '../../lib/platform/storedObjects';
import { UUID_PATTERN } from '../../lib/platform/ids';
import { DRILL_SCRATCH_ROOT } from '../../workflows/drills/definitions';
import { pausePoint } from '../../lib/assets/pausePoints';
import { acted, audit, found, onVersionFinding, overBudget, type Step } from './step';

const HOUR_MS = 3_600_000;

/** Pages through the bucket and the catalog together; true once both have been read to their end. */
export async function scrubObjects(step: Step): Promise<boolean> {
  const { s3, config, db } = step.deps;
  for (;;) {
    const after = step.cursor.key ?? '';
    const page = await s3.send(new ListObjectsV2Command({ Bucket: config.s3.bucket, StartAfter: after || undefined, MaxKeys: step.pageSize }));
    const listed: ListedObject[] = (page.Contents ?? []).map((o) => ({ key: o.Key!, lastModified: o.LastModified!, etag: o.ETag, sizeBytes: o.Size ?? 0 }));
    const ended = !page.IsTruncated;
    const lastListed = listed[listed.length - 1]?.key ?? null;
    const versions = await versionsByKey(db, after, ended ? null : lastListed, step.pageSize);
    const merge = mergePage(listed, ended, versions, step.pageSize);
    step.tally.objects_listed += merge.unowned.length + new Set(merge.present.map((p) => p.object.key)).size;
    await onUnowned(step, merge.unowned);
    for (const v of merge.missing) await onMissing(step, v);
    if (merge.upTo === null || (ended && versions.length < step.pageSize)) return true;
    step.cursor = { ...step.cursor, key: merge.upTo };
    step.beat();
    if (overBudget(step)) return false;
  }
}

/** Objects no version names: those past the grace period and no session's are orphans. */
async function onUnowned(step: Step, objects: ListedObject[]): Promise<void> {
  const graceMs = step.deps.config.scrub.graceHours * HOUR_MS;
  // A drill's scratch is its own: the drills remove what they and their crashed attempts left (lib/drills/scratch.ts).
  const old = objects.filter((o) => o.lastModified.getTime() <= Date.now() - graceMs && !o.key.startsWith(DRILL_SCRATCH_ROOT));
  if (old.length === 0) return;
  const sessions = new Set(
    await keysOfSessionsInProgress(
      step.deps.db,
      old.map((o) => o.key),
    ),
  );
  for (const o of old) {
    if (sessions.has(o.key)) continue;
    await onOrphan(step, o);
  }
}

/** The subjects an object key names when it is one of an asset's (assets/{asset}/{version}). */
function subjectsOfKey(key: string): { asset_id?: string; version_id?: string } {
  const [top, assetId, versionId] = key.split('/');
  if (top !== 'assets' || !UUID_PATTERN.test(assetId ?? '')) return {};
  return { asset_id: assetId, ...(UUID_PATTERN.test(versionId ?? '') ? { version_id: versionId } : {}) };
}

/** Whether a version row or an open or completing session names the key now. */
async function namedNow(db: Knex | Knex.Transaction, key: string): Promise<boolean> {
  return (await keysWithVersions(db, [key])).length > 0 || (await keysOfSessionsInProgress(db, [key])).length > 0;
}

/** Whether the key still holds the object the listing gave (its ETag and LastModified). */
async function unchanged(step: Step, o: ListedObject): Promise<boolean> {
  const { s3, config } = step.deps;
  const head = await headObject(s3, { bucket: config.s3.bucket, key: o.key });
  if (!head || head.etag !== o.etag) return false;
  const now = await s3.send(new ListObjectsV2Command({ Bucket: config.s3.bucket, Prefix: o.key, MaxKeys: 1 }));
  const same = now.Contents?.[0];
  return same?.Key === o.key && same.LastModified?.getTime() === o.lastModified.getTime();
}

/**
 * One orphan: looked at again just before it goes (the store header says why), the last time under
 * the key's lock, which a writer that reuses a key takes to commit the rows naming it
 * (lib/assets/store.ts lockObjectKeys): a row or a session naming it, or an object other than the
 * one listed (ETag, LastModified), and it is left alone.
 */
async function onOrphan(step: Step, o: ListedObject): Promise<void> {
  const { db, s3, config, logger } = step.deps;
  if (await namedNow(db, o.key)) return;
  if (step.row.dry_run) {
    await found(step, 'orphan_object', o.key);
    return;
  }
  if (!(await unchanged(step, o))) return;
  await pausePoint('orphan-checked', [o.key]);
  const removed = await db.transaction(async (trx) => {
    await lockObjectKeys(trx, [o.key]);
    if ((await namedNow(trx, o.key)) || !(await unchanged(step, o))) return false;
    await pausePoint('orphan-locked', [o.key]);
    await found(step, 'orphan_object', o.key);
    await s3.send(new DeleteObjectCommand({ Bucket: config.s3.bucket, Key: o.key }));
    return true;
  });
  if (!removed) return;
  await audit(step, db, { action: 'scrub.orphan_removed', outcome: `removed ${o.key} (${o.sizeBytes} bytes)`, subjects: subjectsOfKey(o.key) });
  await acted(step, 'orphan_object', o.key, 'repaired');
  logger.info('scrub removed an orphan object', { scrub_id: step.row.id, key: o.key, size: o.sizeBytes });
}

/**
 * A version the listing lacks: not one a deletion claimed, nor one made after the scrub began (its
 * object may be on its way), and still missing when looked up by itself.
 */
async function onMissing(step: Step, v: ScrubVersion): Promise<void> {
  if (v.claimed || !step.row.started_at || v.created_at.getTime() >= step.row.started_at.getTime()) return;
  if (await headObject(step.deps.s3, { bucket: step.deps.config.s3.bucket, key: v.object_key })) return;
  await onVersionFinding(step, v, 'missing_object', `its object ${v.object_key} is missing from the asset bucket`);
}

/**
 * Multipart uploads begun before the upload expiry (STORAGE_SCRUB_MULTIPART_AGE_HOURS) that no open
 * or completing session writes to: aborted (counted only in a dry run). True once listed to the end.
 */
export async function scrubMultipart(step: Step): Promise<boolean> {
  const { s3, config, db, logger } = step.deps;
  const olderThan = Date.now() - config.scrub.multipartAgeHours * HOUR_MS;
  for (;;) {
    const next = step.cursor.key !== undefined ? { keyMarker: step.cursor.key, uploadIdMarker: step.cursor.uploadId } : undefined;
    const listed = await listIncompleteUploads(s3, config.s3.bucket, { next });
    const old = listed.uploads.filter((u) => u.initiated && u.initiated.getTime() <= olderThan);
    const owned = new Set(await keysOfSessionsInProgress(db, [...new Set(old.map((u) => u.key))]));
    for (const u of old.filter((x) => !owned.has(x.key))) {
      const subject = `${u.key} ${u.uploadId}`;
      await found(step, 'incomplete_multipart', subject);
      if (step.row.dry_run) continue;
      await abortMultipartUpload(s3, config.s3.bucket, u.key, u.uploadId);
      await audit(step, db, { action: 'scrub.multipart_aborted', outcome: `aborted upload ${u.uploadId} of ${u.key}`, subjects: subjectsOfKey(u.key) });
      await acted(step, 'incomplete_multipart', subject, 'repaired');
      logger.info('scrub aborted an incomplete multipart upload', { scrub_id: step.row.id, key: u.key, upload_id: u.uploadId });
    }
    if (!listed.next) return true;
    step.cursor = { ...step.cursor, key: listed.next.keyMarker, uploadId: listed.next.uploadIdMarker };
    step.beat();
    if (overBudget(step)) return false;
  }
}
