/**
 * Assets written straight to the store and the catalog, as uploads would leave them (one version each,
 * 16 at a time): rows that need many objects (15, 17) would otherwise spend their time uploading.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { uuidv7 } from '../lib/platform/ids';
import { objectKeyFor } from '../lib/assets/keys';
import { inParallel } from './client';
import type { RowContext } from './rows';

export interface SeededAsset {
  id: string;
  objectKey: string;
  sha256: string;
}

export async function seedAssets(ctx: RowContext, count: number, bytesEach: number, namePrefix: string): Promise<SeededAsset[]> {
  const { env } = ctx;
  const seeded: SeededAsset[] = [];
  await inParallel(count, 16, async (i) => {
    const id = uuidv7();
    const versionId = uuidv7();
    const body = randomBytes(bytesEach);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const objectKey = objectKeyFor(id, versionId);
    await env.s3.send(new PutObjectCommand({ Bucket: env.config.s3.bucket, Key: objectKey, Body: body }));
    await env.db.transaction(async (trx) => {
      await trx('assets').insert({
        id,
        name: `${namePrefix}-${i}.bin`,
        content_type: 'application/octet-stream',
        size_bytes: bytesEach,
        checksum_sha256: sha256,
        current_version_id: versionId,
        version_count: 1,
        last_version_number: 1,
        tags: ['bench'],
      });
      await trx('asset_versions').insert({
        id: versionId,
        asset_id: id,
        version_number: 1,
        object_key: objectKey,
        size_bytes: bytesEach,
        content_type: 'application/octet-stream',
        checksum_sha256: sha256,
      });
    });
    seeded.push({ id, objectKey, sha256 });
  });
  return seeded;
}
