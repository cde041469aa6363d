/**
 * Issue 28: backups trust nothing they did not hash. A blob at its address with the right size but
 * other bytes, never verified there, is hashed by the next backup and copied again; an overwrite
 * restore hashes a live object of the right size before it keeps it; retention forgets what it knew of the
 * blobs it deletes.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { blobKeyFor } from '../lib/backups/catalog';
import { bytesOf, download, sha256 } from './support/assets';
import { awaitJob, objectBytes, resetAll, runBackup } from './support/backups';
import { addAsset } from './support/catalog';
import { useTestService } from './support/context';
import { call } from './support/http';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';

const ctx = useTestService({ STORAGE_UPLOAD_WAIT_SECONDS: '60' });
afterEach(async () => {
  await resetAll(ctx);
});

/** The same number of bytes, every one different. */
const flipped = (bytes: Buffer): Buffer => Buffer.from(bytes.map((b) => b ^ 0xff));

const checkOf = (sha: string) => ctx.db('backup_blob_checks').where({ sha256: sha }).first();

it('a blob of the right size but other bytes, not verified, is hashed by the next backup and copied again', async () => {
  const file = bytesOf(5000);
  expect((await addAsset(ctx.baseUrl, file, { name: 'map.png' })).status).toBe(201);
  const digest = sha256(file);
  const key = blobKeyFor(digest);

  const first = await runBackup(ctx);
  expect(first).toMatchObject({ status: 'completed', progress: { bytes_copied: 5000 } });
  // The copy was hashed at its address when it was written.
  expect(await checkOf(digest)).toMatchObject({ verified_at: expect.any(Date), damaged_at: null });

  // A verified blob is trusted as it is: nothing copied.
  expect(await runBackup(ctx)).toMatchObject({ status: 'completed', progress: { bytes_copied: 0 } });

  // Now the bucket holds other bytes of the same size there, and nothing says they were ever checked.
  await ctx.db('backup_blob_checks').where({ sha256: digest }).delete();
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: key, Body: flipped(file) }));
  expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, key))).not.toBe(digest);

  const third = await runBackup(ctx);
  expect(third).toMatchObject({ status: 'completed', progress: { bytes_copied: 5000 } });
  expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, key))).toBe(digest);
  expect(await checkOf(digest)).toMatchObject({ verified_at: expect.any(Date), damaged_at: null });

  // A blob recorded damaged (by a scrub, a drill) is copied again too, whatever its size says.
  await ctx.db('backup_blob_checks').where({ sha256: digest }).update({ verified_at: null, damaged_at: new Date(), damage: 'test' });
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: key, Body: flipped(file) }));
  expect(await runBackup(ctx)).toMatchObject({ status: 'completed', progress: { bytes_copied: 5000 } });
  expect(sha256(await objectBytes(ctx, ctx.config.s3.backupBucket, key))).toBe(digest);
});

it('an overwrite restore over a live object of the right size but a flipped byte gives back the right bytes', async () => {
  const file = bytesOf(4096);
  const id = (await addAsset(ctx.baseUrl, file, { name: 'handout.pdf' })).body.id;
  const backup = await runBackup(ctx);
  expect(backup.status).toBe('completed');

  // One byte flipped under the service: same size, other content.
  const version = await ctx.db('asset_versions').where({ asset_id: id }).first();
  const damaged = Buffer.from(file);
  damaged[1234] ^= 0x01;
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key, Body: damaged }));
  expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${id}/content`)).body)).toBe(sha256(damaged));

  const started = await call(`${ctx.baseUrl}/api/v2/backups/${backup.id}/restore`, {
    method: 'POST',
    json: { mode: 'overwrite', dry_run: false, asset_ids: [id] },
  });
  expect(started.status).toBe(202);
  const restore = await awaitJob(ctx, `/api/v2/restores/${started.body.id}`);
  expect(restore).toMatchObject({ status: 'completed', progress: { objects_copied: 1, bytes_copied: 4096 } });
  expect(sha256((await download(`${ctx.baseUrl}/api/v2/assets/${id}/content`)).body)).toBe(sha256(file));
});

it('retention forgets the checks of the blobs it deletes, and keeps those of the blobs it keeps', async () => {
  const gone = bytesOf(1000);
  await addAsset(ctx.baseUrl, gone, { name: 'old.png' });
  const old = await runBackup(ctx);
  const assetId = (await ctx.db('assets').first()).id;
  expect((await call(`${ctx.baseUrl}/api/v2/assets/${assetId}?permanent=true`, { method: 'DELETE' })).status).toBeLessThan(300);
  await waitUntil('the asset gone', async () => (await ctx.db('assets').count({ n: '*' }))[0].n === 0);
  const kept = bytesOf(1200);
  await addAsset(ctx.baseUrl, kept, { name: 'new.png' });
  expect((await runBackup(ctx)).status).toBe('completed');
  expect(await checkOf(sha256(gone))).toBeDefined();

  await ctx
    .db('backup_jobs')
    .where({ id: old.id })
    .update({ expires_at: new Date(Date.now() - 86_400_000) });
  const swept = await ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
    workflowId: `backup-retention-test-${uuidv7()}`,
    taskQueue: ctx.config.temporal.taskQueue,
    args: [{}],
  });
  expect(swept).toMatchObject({ backups_removed: 1, blobs_deleted: 1 });
  expect(await checkOf(sha256(gone))).toBeUndefined();
  expect(await checkOf(sha256(kept))).toMatchObject({ verified_at: expect.any(Date) });
});
