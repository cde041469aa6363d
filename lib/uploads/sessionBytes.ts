import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortMultipartUpload, listIncompleteUploads } from '../platform/multipart';
import type { UploadSessionRow } from './sessionRow';

/**
 * Removes every byte a session may hold: the parts of its multipart uploads, and the object at its
 * key (a staged file, or one assembled or copied before the session ended). A simple upload's
 * multipart upload is the API's, which keeps its id in memory only (lib/platform/staging.ts): an API
 * that died while staging leaves it, found by the session's key.
 */
export async function discardSessionBytes(s3: S3Client, bucket: string, session: Pick<UploadSessionRow, 'object_key' | 's3_upload_id'>): Promise<void> {
  if (session.s3_upload_id) await abortMultipartUpload(s3, bucket, session.object_key, session.s3_upload_id);
  await abortUploadsAt(s3, bucket, session.object_key);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: session.object_key }));
}

// A session's key has one writer at a time: a few pages cover every upload ever begun at it.
const MAX_PAGES_PER_KEY = 10;

/**
 * Aborts every multipart upload still open at `key`. Once a session has ended (committed too) each is
 * a leftover: one the SDK opened again when the store did a CreateMultipartUpload and lost its answer,
 * or one an API or worker that died left.
 */
export async function abortUploadsAt(s3: S3Client, bucket: string, key: string): Promise<void> {
  let next: Awaited<ReturnType<typeof listIncompleteUploads>>['next'];
  for (let page = 0; page < MAX_PAGES_PER_KEY; page++) {
    const listed = await listIncompleteUploads(s3, bucket, { prefix: key, next });
    for (const upload of listed.uploads) if (upload.key === key) await abortMultipartUpload(s3, bucket, key, upload.uploadId);
    next = listed.next;
    if (!next) return;
  }
}
