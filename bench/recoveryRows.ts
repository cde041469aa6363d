/**
 * Row 15 (issue 24): recovery from the backup bucket alone, the runbook's "both lost" (docs/recovery.md).
 * 1,000 assets of 1 MB (1 GB; quick mode: 50 of 256 KiB) are written to the store and the catalog,
 * and backed up through the API; then every table of the catalog is emptied and the asset bucket too,
 * and the clock runs from `POST /api/v2/backups/import` to the `missing` restore's completion, read
 * from GET /restores/{id} as a client would. The restore verifies what it copies (each object hashed
 * against the manifest); the row checks the counts, and hashes a sample of the restored objects.
 *
 * Not a paired row: there is no baseline to recover against. It runs only when named (--rows 15).
 */
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { hashObject } from '../lib/platform/storedObjects';
import { expectJson, request } from './client';
import { seedAssets, type SeededAsset } from './seed';
import { check, seconds, summary, type RowContext, type RowResult } from './rows';
import { KiB, MB, round } from './stats';

const POLL_MS = 500;

interface Job {
  id: string;
  status: 'pending' | 'running' | 'completed' | 'failed';
  error: string | null;
  progress: Record<string, number>;
  counts?: { assets: number; versions: number; blobs: number; bytes: number; version_bytes: number } | null;
}

export async function rowRecovery(ctx: RowContext): Promise<RowResult> {
  const { env, settings } = ctx;
  const count = settings.mode === 'quick' ? 50 : 1000;
  const bytesEach = settings.mode === 'quick' ? 256 * KiB : MB;
  const totalBytes = count * bytesEach;

  ctx.say(`row 15: writing ${count} assets of ${bytesEach} bytes`);
  const seeded = await seedAssets(ctx, count, bytesEach, 'bench-recovery');
  const backupStarted = performance.now();
  const started = await expectJson(
    request(`${env.apiUrl}/api/v2/backups`, jsonPost({ label: 'bench row 15', include_all_versions: true })),
    202,
    'row 15 backup',
  );
  const backup = await settle(ctx, `/api/v2/backups/${started.id}`, 'backup');
  const backupS = seconds(backupStarted);
  ctx.say(`row 15: backup ${backup.id} completed in ${round(backupS, 1)} s; losing the catalog and the asset bucket`);

  await loseEverythingButTheBackupBucket(ctx);

  const t0 = performance.now();
  const imported = await expectJson(request(`${env.apiUrl}/api/v2/backups/import`, jsonPost({})), 200, 'row 15 import');
  const importS = seconds(t0);
  if (imported.imported.length !== 1 || imported.imported[0].id !== backup.id || imported.refused.length) {
    throw new Error(`row 15: the import answered ${JSON.stringify(imported).slice(0, 500)}`);
  }
  const t1 = performance.now();
  const restoreStarted = await expectJson(
    request(`${env.apiUrl}/api/v2/backups/${backup.id}/restore`, jsonPost({ mode: 'missing', dry_run: false })),
    202,
    'row 15 restore',
  );
  const restore = await settle(ctx, `/api/v2/restores/${restoreStarted.id}`, 'restore');
  const restoreS = seconds(t1);
  const recoveryS = seconds(t0);
  const p = restore.progress;
  // The backup holds the seeded assets and what the harness uploaded when it started.
  const held = backup.counts!;
  if (held.assets < count || p.assets_restored !== held.assets || p.bytes_copied !== held.version_bytes) {
    throw new Error(`row 15: the restore ended ${JSON.stringify(restore).slice(0, 500)}`);
  }
  await checkSample(ctx, seeded);
  ctx.say(
    `row 15: recovered ${held.assets} assets, ${round(held.version_bytes / MB)} MB in ${round(recoveryS, 1)} s (import ${round(importS, 2)} s, restore ${round(restoreS, 1)} s)`,
  );

  return {
    id: 15,
    title: `recovery from the backup bucket alone: ${count} assets, ${round(totalBytes / MB)} MB (import + missing restore into an empty catalog and store)`,
    service: 'POST /backups/import, then POST /backups/{id}/restore until completed',
    baseline: '-',
    metrics: {
      recovery_s: { unit: 's', service: summary([recoveryS]) },
      import_s: { unit: 's', service: summary([importS]) },
      restore_s: { unit: 's', service: summary([restoreS]) },
      restore_mb_s: { unit: 'MB/s', service: summary([held.version_bytes / MB / restoreS]) },
      backup_s: { unit: 's', service: summary([backupS]) },
    },
    targets: [check('every asset and byte back', p.assets_restored, true)],
    details: { seeded_assets: count, seeded_bytes: totalBytes, backup_counts: held, backup_id: backup.id, restore_id: restore.id, restore_progress: p },
  };
}

function jsonPost(json: unknown) {
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: [Buffer.from(JSON.stringify(json))], timeoutMs: 600_000 };
}

/** Polls a backup or a restore until it ends; a failed one fails the row. */
async function settle(ctx: RowContext, path: string, what: string): Promise<Job> {
  for (;;) {
    const job = await expectJson<Job>(request(`${ctx.env.apiUrl}${path}`), 200, `row 15 ${what}`);
    if (job.status === 'failed') throw new Error(`row 15: the ${what} failed: ${job.error}`);
    if (job.status === 'completed') return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Every table of the catalog emptied (as a database made again would be) and every object of the asset bucket deleted. */
async function loseEverythingButTheBackupBucket(ctx: RowContext): Promise<void> {
  const { env } = ctx;
  const tables: string[] = await env
    .db('information_schema.tables')
    .where({ table_schema: 'public', table_type: 'BASE TABLE' })
    .whereNot('table_name', 'like', 'knex_%')
    .pluck('table_name');
  await env.db.raw(`TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`);
  const bucket = env.config.s3.bucket;
  let token: string | undefined;
  do {
    const page = await env.s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length) await env.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Every 50th asset's object, hashed where the restore put it: the bytes that were written. */
async function checkSample(ctx: RowContext, seeded: SeededAsset[]): Promise<void> {
  for (const asset of seeded.filter((_, i) => i % 50 === 0)) {
    const got = await hashObject(ctx.env.s3, { bucket: ctx.env.config.s3.bucket, key: asset.objectKey });
    if (got.sha256 !== asset.sha256) throw new Error(`row 15: asset ${asset.id}'s object hashes to ${got.sha256}, ${asset.sha256} was written`);
  }
}
