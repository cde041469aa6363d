/**
 * What the scrub reads and writes in the buckets: an object hashed within the byte budget, a version's
 * object put back from a backup blob (or another live object with its content), a backup blob put back
 * from a live object. Every copy is checked twice: its source hashes to the content's address first,
 * the copy hashes to it after. Nothing is held beyond one chunk.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { blobKeyFor } from '../backups/catalog';
import { copyObject, isNotFound, withTicker, type ObjectRef } from '../platform/storedObjects';
import type { Db } from '../platform/db';
import { versionsWithContent, type ScrubVersion } from './store';
import type { TokenBucket } from './tokenBucket';

/** What a scrub step reads with: the store, the byte budget, its heartbeat and its count of bytes read. */
export interface Reader {
  s3: S3Client;
  db: Db;
  assetBucket: string;
  backupBucket: string;
  budget: TokenBucket;
  signal?: AbortSignal;
  beat: () => void;
  /** Called with every chunk's size: the step's bytes_hashed. */
  hashed: (bytes: number) => void;
}

export interface Hashed {
  sha256: string;
  sizeBytes: number;
}

/** The object's SHA-256 and size, read within the budget; undefined when it does not exist. */
export async function hashWithin(r: Reader, ref: ObjectRef): Promise<Hashed | undefined> {
  let object;
  try {
    object = await r.s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), { abortSignal: r.signal });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of object.Body as Readable) {
    await r.budget.take(chunk.length);
    hash.update(chunk);
    sizeBytes += chunk.length;
    r.hashed(chunk.length);
  }
  r.beat();
  return { sha256: hash.digest('hex'), sizeBytes };
}

const holds = (got: Hashed | undefined, sha256: string, sizeBytes: number) => got !== undefined && got.sha256 === sha256 && got.sizeBytes === sizeBytes;

/** Copies `from` (already checked) to `to`, then checks the copy; answers whether it holds the content. */
async function copyChecked(
  r: Reader,
  from: ObjectRef,
  to: ObjectRef,
  content: { sha256: string; sizeBytes: number; contentType?: string | null },
  metadata: Record<string, string>,
) {
  await withTicker(r.beat, () =>
    copyObject(r.s3, from, to, { sizeBytes: content.sizeBytes, metadata, contentType: content.contentType ?? undefined, signal: r.signal, onPart: r.beat }),
  );
  return holds(await hashWithin(r, to), content.sha256, content.sizeBytes);
}

/** Where a repair took the bytes from: a backup blob's address, or another version's object. */
export interface RepairSource {
  bucket: string;
  key: string;
  /** `backup_blob` or `version` (then `versionId` names it). */
  kind: 'backup_blob' | 'version';
  versionId?: string;
}

/**
 * Puts the version's bytes back at its key: from the backup blob of its content when that hashes
 * right, else from another live version's object that does. Undefined when neither holds them.
 */
export async function restoreVersionObject(r: Reader, v: ScrubVersion): Promise<RepairSource | undefined> {
  const content = { sha256: v.checksum_sha256, sizeBytes: v.size_bytes, contentType: v.content_type };
  const target = { bucket: r.assetBucket, key: v.object_key };
  const blob = { bucket: r.backupBucket, key: blobKeyFor(v.checksum_sha256) };
  if (holds(await hashWithin(r, blob), content.sha256, content.sizeBytes)) {
    if (await copyChecked(r, blob, target, content, { 'scrub-repair': 'backup' })) return { ...blob, kind: 'backup_blob' };
  }
  for (const other of await versionsWithContent(r.db, v.checksum_sha256)) {
    if (other.object_key === v.object_key) continue;
    const source = { bucket: r.assetBucket, key: other.object_key };
    if (!holds(await hashWithin(r, source), content.sha256, content.sizeBytes)) continue;
    if (await copyChecked(r, source, target, content, { 'scrub-repair': 'version' })) return { ...source, kind: 'version', versionId: other.id };
  }
  return undefined;
}

/** Puts a backup blob back at its address from a live version's object that hashes right; that version, or undefined. */
export async function restoreBlob(r: Reader, sha256: string, sizeBytes: number | undefined): Promise<ScrubVersion | undefined> {
  const to = { bucket: r.backupBucket, key: blobKeyFor(sha256) };
  for (const v of await versionsWithContent(r.db, sha256)) {
    if (sizeBytes !== undefined && v.size_bytes !== sizeBytes) continue;
    const from = { bucket: r.assetBucket, key: v.object_key };
    const content = { sha256, sizeBytes: v.size_bytes };
    if (!holds(await hashWithin(r, from), sha256, v.size_bytes)) continue;
    if (await copyChecked(r, from, to, content, { sha256, 'scrub-repair': v.id })) return v;
  }
  return undefined;
}

export { holds };
