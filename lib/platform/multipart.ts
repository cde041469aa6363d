import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';

export interface StoredPart {
  partNumber: number;
  sizeBytes: number;
  etag: string;
  /** When the store received it (ms; whole seconds on SeaweedFS). */
  lastModified?: number;
}

/**
 * The parts S3 holds for a multipart upload, by number: what CompleteMultipartUpload is given.
 *
 * AWS S3 and MinIO keep one send per number (a re-sent part replaces the earlier one). SeaweedFS
 * keeps every send and lists them all, in no useful order (each is a file named by a random UUID)
 * and with LastModified in whole seconds, so the listing cannot tell which send came last. Every
 * distinct send is therefore returned: given them all, SeaweedFS's CompleteMultipartUpload takes the
 * newest of each number (it orders them by write time in nanoseconds) and drops the rest. Naming
 * just one of them would commit stale bytes whenever a part was re-sent. Use `latestParts` for one
 * entry per number.
 */
export async function listStoredParts(s3: S3Client, bucket: string, key: string, uploadId: string): Promise<StoredPart[]> {
  const sends = new Map<string, StoredPart & { lastModified: number }>();
  let marker: string | undefined;
  do {
    const page = await s3.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
    for (const p of page.Parts ?? []) {
      // Once per (number, ETag): a send named twice would be taken once and deleted once.
      sends.set(`${p.PartNumber}:${p.ETag}`, {
        partNumber: p.PartNumber!,
        sizeBytes: p.Size ?? 0,
        etag: p.ETag!,
        lastModified: p.LastModified?.getTime() ?? 0,
      });
    }
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker);
  return [...sends.values()]
    .sort((a, b) => a.partNumber - b.partNumber || a.lastModified - b.lastModified)
    .map(({ partNumber, sizeBytes, etag, lastModified }) => ({ partNumber, sizeBytes, etag, lastModified }));
}

/** One entry per part number (the last listed), for status and counting. */
export function latestParts(parts: StoredPart[]): StoredPart[] {
  return [...new Map(parts.map((p) => [p.partNumber, p])).values()].sort((a, b) => a.partNumber - b.partNumber);
}

/** The expected size of part `n` of an upload of `size` bytes cut into `partSize` parts. */
export function expectedPartSize(size: number, partSize: number, partCount: number, n: number): number {
  return n < partCount ? partSize : size - partSize * (partCount - 1);
}

/** Numbers of the parts that are absent or of the wrong size: what the client must (re)send. */
export function partsToResend(parts: StoredPart[], size: number, partSize: number, partCount: number): number[] {
  const stored = new Map(parts.map((p) => [p.partNumber, p.sizeBytes]));
  const resend: number[] = [];
  for (let n = 1; n <= partCount; n++) {
    if (stored.get(n) !== expectedPartSize(size, partSize, partCount, n)) resend.push(n);
  }
  return resend;
}

/**
 * Opens a multipart upload for `key`, or finds the one an earlier attempt opened: a retried
 * activity must not leave a second, orphaned multipart upload behind.
 */
export async function openMultipartUpload(s3: S3Client, bucket: string, key: string, contentType: string, metadata?: Record<string, string>): Promise<string> {
  const existing = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  const found = existing.Uploads?.find((u) => u.Key === key);
  if (found?.UploadId) return found.UploadId;
  const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: contentType, Metadata: metadata }));
  return created.UploadId!;
}

export interface IncompleteUpload {
  key: string;
  uploadId: string;
  initiated: Date | undefined;
}

/** One page of the multipart uploads begun and neither completed nor aborted under `prefix`, in key order; `next` continues it. */
export async function listIncompleteUploads(
  s3: S3Client,
  bucket: string,
  opts: { prefix?: string; next?: { keyMarker?: string; uploadIdMarker?: string } } = {},
): Promise<{ uploads: IncompleteUpload[]; next?: { keyMarker?: string; uploadIdMarker?: string } }> {
  const page = await s3.send(
    new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: opts.prefix, KeyMarker: opts.next?.keyMarker, UploadIdMarker: opts.next?.uploadIdMarker }),
  );
  const uploads = (page.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated }));
  const next = page.IsTruncated ? { keyMarker: page.NextKeyMarker, uploadIdMarker: page.NextUploadIdMarker } : undefined;
  return { uploads, next };
}

export async function abortMultipartUpload(s3: S3Client, bucket: string, key: string, uploadId: string): Promise<void> {
  try {
    await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'NoSuchUpload') throw err;
  }
}
