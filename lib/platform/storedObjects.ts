/**
 * Work on stored objects shared by uploads, backups and restores: look an object up, copy it
 * server-side between buckets (CopyObject, or UploadPartCopy by parts for large objects, resumable),
 * hash an object as it streams, read its first bytes, delete keys in bulk. Nothing here holds an object's bytes beyond one chunk.
 */
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { expectedPartSize, latestParts, listStoredParts, openMultipartUpload } from './multipart';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's CopyObject takes at most 5 GiB; larger objects copy by parts. */
export const DEFAULT_COPY_LIMITS: CopyLimits = { singleCopyMaxBytes: 5 * GiB, partSizeBytes: 512 * MiB };

export interface CopyLimits {
  /** Objects larger than this copy by parts (UploadPartCopy). At most 5 GiB. */
  singleCopyMaxBytes: number;
  /** The size of each part of such a copy (at least 5 MiB; 10,000 parts at most). */
  partSizeBytes: number;
}

export interface ObjectRef {
  bucket: string;
  key: string;
}

export interface HeadResult {
  sizeBytes: number;
  metadata: Record<string, string>;
  /** The SHA-256 checksum the store recorded, when the object was written with one (base64; `-N` when composite). */
  checksumSha256?: string;
  /** Quoted; for an object assembled from parts, the MD5 of its parts' MD5s and `-N`. */
  etag?: string;
}

export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.$metadata?.httpStatusCode === 404 || e?.name === 'NoSuchKey' || e?.name === 'NotFound';
}

export async function headObject(s3: S3Client, ref: ObjectRef, signal?: AbortSignal): Promise<HeadResult | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key, ChecksumMode: 'ENABLED' }), { abortSignal: signal });
    return { sizeBytes: head.ContentLength ?? 0, metadata: head.Metadata ?? {}, checksumSha256: head.ChecksumSHA256, etag: head.ETag };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function copySource(ref: ObjectRef): string {
  return `${ref.bucket}/${encodeURIComponent(ref.key).replace(/%2F/g, '/')}`;
}

export interface CopyOptions {
  sizeBytes: number;
  metadata: Record<string, string>;
  contentType?: string;
  limits?: CopyLimits;
  signal?: AbortSignal;
  onPart?: (done: number, total: number) => void;
}

/**
 * Copies `from` to `to` inside the store, replacing the target's metadata with `metadata`. Up to
 * `singleCopyMaxBytes` in one CopyObject; beyond, by parts: a retried copy finds the multipart
 * upload an earlier attempt opened and sends only the parts it lacks. `onPart` is called after each
 * part (the caller heartbeats there). A missing source is an error with `isNotFound`.
 */
export async function copyObject(s3: S3Client, from: ObjectRef, to: ObjectRef, opts: CopyOptions): Promise<void> {
  const limits = opts.limits ?? DEFAULT_COPY_LIMITS;
  const contentType = opts.contentType ?? 'application/octet-stream';
  if (opts.sizeBytes <= limits.singleCopyMaxBytes) {
    await s3.send(
      new CopyObjectCommand({
        Bucket: to.bucket,
        Key: to.key,
        CopySource: copySource(from),
        MetadataDirective: 'REPLACE',
        Metadata: opts.metadata,
        ContentType: contentType,
      }),
      { abortSignal: opts.signal },
    );
    return;
  }
  await copyObjectByParts(s3, from, to, { ...opts, contentType, partSizeBytes: limits.partSizeBytes });
}

/** The copy of a large object: a multipart upload (resumed if an earlier attempt opened it) of server-side part copies. */
async function copyObjectByParts(
  s3: S3Client,
  from: ObjectRef,
  to: ObjectRef,
  opts: CopyOptions & { contentType: string; partSizeBytes: number },
): Promise<void> {
  const partSize = Math.max(opts.partSizeBytes, Math.ceil(opts.sizeBytes / 10_000));
  const partCount = Math.ceil(opts.sizeBytes / partSize);
  // Fail fast on a missing source rather than after opening a multipart upload.
  if (!(await headObject(s3, from, opts.signal))) {
    throw Object.assign(new Error(`copy source ${from.bucket}/${from.key} does not exist`), { name: 'NoSuchKey' });
  }
  const uploadId = await openMultipartUpload(s3, to.bucket, to.key, opts.contentType, opts.metadata);
  const sizeOf = (n: number) => expectedPartSize(opts.sizeBytes, partSize, partCount, n);
  const done = new Map(
    latestParts(await listStoredParts(s3, to.bucket, to.key, uploadId))
      .filter((p) => p.sizeBytes === sizeOf(p.partNumber))
      .map((p) => [p.partNumber, p.etag]),
  );
  for (let n = 1; n <= partCount; n++) {
    if (!done.has(n)) {
      const first = (n - 1) * partSize;
      const answer = await s3.send(
        new UploadPartCopyCommand({
          Bucket: to.bucket,
          Key: to.key,
          UploadId: uploadId,
          PartNumber: n,
          CopySource: copySource(from),
          CopySourceRange: `bytes=${first}-${first + sizeOf(n) - 1}`,
        }),
        { abortSignal: opts.signal },
      );
      done.set(n, answer.CopyPartResult!.ETag!);
    }
    opts.onPart?.(n, partCount);
  }
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: to.bucket,
      Key: to.key,
      UploadId: uploadId,
      MultipartUpload: { Parts: [...done.entries()].sort((a, b) => a[0] - b[0]).map(([PartNumber, ETag]) => ({ PartNumber, ETag })) },
    }),
    { abortSignal: opts.signal },
  );
}

const PROGRESS_EVERY_BYTES = 16 * MiB;

/**
 * Streams the object through SHA-256; `onBytes` is called every 16 MiB read (the caller heartbeats),
 * and `pace` with each chunk before it is hashed (a reader within a byte budget waits there).
 */
export async function hashObject(
  s3: S3Client,
  ref: ObjectRef,
  opts: { signal?: AbortSignal; onBytes?: (read: number) => void; pace?: (chunkBytes: number) => Promise<void> } = {},
): Promise<{ sha256: string; sizeBytes: number; contentType: string | undefined }> {
  const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }), { abortSignal: opts.signal });
  const hash = createHash('sha256');
  let sizeBytes = 0;
  let since = 0;
  for await (const chunk of object.Body as Readable) {
    if (opts.pace) await opts.pace(chunk.length);
    hash.update(chunk);
    sizeBytes += chunk.length;
    since += chunk.length;
    if (since >= PROGRESS_EVERY_BYTES) {
      opts.onBytes?.(sizeBytes);
      since = 0;
    }
  }
  return { sha256: hash.digest('hex'), sizeBytes, contentType: object.ContentType };
}

/** The object's first `n` bytes (fewer when it is shorter), in one ranged GET; none of an empty object, which has no range to ask for. */
export async function readFirstBytes(s3: S3Client, ref: ObjectRef & { sizeBytes: number }, n: number): Promise<Buffer> {
  if (ref.sizeBytes === 0) return Buffer.alloc(0);
  const object = await s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: `bytes=0-${n - 1}` }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

const DELETE_OBJECTS_MAX = 1000;

/** Deletes the keys (already-gone keys succeed); any key S3 could not delete is an error. */
export async function deleteKeys(s3: S3Client, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_OBJECTS_MAX) {
    const chunk = keys.slice(i, i + DELETE_OBJECTS_MAX);
    const answer = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }));
    if (answer.Errors?.length) {
      const first = answer.Errors[0];
      throw new Error(`S3 could not delete ${answer.Errors.length} object(s), e.g. ${first.Key}: ${first.Code} ${first.Message}`);
    }
  }
}

/** Runs `work` while calling `beat` every `everyMs` (a single long S3 call heartbeats meanwhile). */
export async function withTicker<T>(beat: () => void, work: () => Promise<T>, everyMs = 5_000): Promise<T> {
  const timer = setInterval(beat, everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
