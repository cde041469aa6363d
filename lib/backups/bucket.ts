/**
 * The backup bucket as it is, whatever the catalog says: the manifests it holds. Retention and the
 * import both start here (a catalog that was lost knows none of them).
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { UUID_PATTERN } from '../platform/ids';

export interface StoredManifest {
  backupId: string;
  key: string;
  sizeBytes: number;
  lastModified: Date | undefined;
}

const MANIFEST_KEY = /^manifests\/([^/]+)\.jsonl$/;

/** Every `manifests/{backup_id}.jsonl` in the bucket, newest backup first (ids are UUID v7); other keys are not ours. */
export async function listManifests(s3: S3Client, bucket: string, signal?: AbortSignal): Promise<StoredManifest[]> {
  const found: StoredManifest[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'manifests/', ContinuationToken: token }), { abortSignal: signal });
    for (const object of page.Contents ?? []) {
      const backupId = MANIFEST_KEY.exec(object.Key ?? '')?.[1];
      if (backupId && UUID_PATTERN.test(backupId)) found.push({ backupId, key: object.Key!, sizeBytes: object.Size ?? 0, lastModified: object.LastModified });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return found.sort((a, b) => (a.backupId < b.backupId ? 1 : a.backupId > b.backupId ? -1 : 0));
}
