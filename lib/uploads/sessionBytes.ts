import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { abortMultipartUpload } from '../platform/multipart';
import type { UploadSessionRow } from './sessionRow';

/**
 * Removes every byte a session may hold: the parts of its multipart upload, if it has one, and the
 * object at its key (a staged file, or one assembled or copied before the session ended).
 */
export async function discardSessionBytes(s3: S3Client, bucket: string, session: Pick<UploadSessionRow, 'object_key' | 's3_upload_id'>): Promise<void> {
  if (session.s3_upload_id) await abortMultipartUpload(s3, bucket, session.object_key, session.s3_upload_id);
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: session.object_key }));
}
