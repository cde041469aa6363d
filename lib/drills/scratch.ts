/**
 * The drill's scratch prefix in the asset bucket (drills/{drill_id}/, never a live key): a version's
 * blob is copied there, read back whole (SHA-256, size, content type: hashObject), and removed. The whole prefix
 * is removed again at the drill's end, failed or not, and at its begin (a crashed attempt's copies).
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { UUID_PATTERN } from '../platform/ids';
import { deleteKeys } from '../platform/storedObjects';
import { DRILL_SCRATCH_ROOT } from '../../workflows/drills/definitions';

/** Removes every object under `prefix`, a page at a time; answers how many went. */
export async function removePrefix(s3: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1000 }), { abortSignal: signal });
    const keys = (page.Contents ?? []).map((o) => o.Key!).filter(Boolean);
    if (keys.length === 0) return removed;
    await deleteKeys(s3, bucket, keys);
    removed += keys.length;
  }
}

/** The drills whose scratch prefix (drills/{drill_id}/) holds anything, at most a page of them. */
export async function scratchDrillIds(s3: S3Client, bucket: string, signal?: AbortSignal): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: DRILL_SCRATCH_ROOT, Delimiter: '/', MaxKeys: 1000 }), { abortSignal: signal });
  return (page.CommonPrefixes ?? [])
    .map((p) => /^drills\/([^/]+)\/$/.exec(p.Prefix ?? '')?.[1])
    .filter((id): id is string => id !== undefined && UUID_PATTERN.test(id));
}
