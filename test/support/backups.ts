/**
 * Helpers for the backup tests: backups and restores started the way the API starts them and
 * awaited, a catalog seeded in bulk (rows written directly, small random objects), what an asset
 * looks like through the API (every field, every version, every byte's SHA-256), and a clean slate.
 */
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import {
  readBackup,
  readRestore,
  startBackup,
  startRestore,
  type BackupClient,
  type StartBackupOptions,
  type StartRestoreOptions,
} from '../../lib/backups/backupRuns';
import type { BackupJson, RestoreJson } from '../../lib/backups/catalog';
import { toVersionJson, type VersionJson, type VersionRow } from '../../lib/assets/versions';
import { mapLimit } from '../../lib/platform/concurrency';
import { uuidv7 } from '../../lib/platform/ids';
import { objectKeyFor } from '../../lib/assets/keys';
import { workflowClientsOf } from '../../api/deps';
import { sha256 } from './assets';
import { keysOf } from './catalog';
import type { TestContext } from './context';
import { TEST_ADMIN } from './auth';
import { call } from './http';
import { waitUntil } from './processes';

export function backupClientOf(ctx: TestContext): BackupClient {
  return workflowClientsOf(ctx).backups;
}

/** Waits for a workflow's end, whatever it is (a failed run is an answer too). */
export async function settled(ctx: TestContext, workflowId: string): Promise<void> {
  await ctx.temporal.client.workflow
    .getHandle(workflowId)
    .result()
    .catch(() => undefined);
}

export async function runBackup(ctx: TestContext, opts: StartBackupOptions = {}): Promise<BackupJson> {
  const row = await startBackup(backupClientOf(ctx), TEST_ADMIN, opts);
  await settled(ctx, row.workflow_id);
  return readBackup(backupClientOf(ctx), row.id);
}

export async function runRestore(ctx: TestContext, backupId: string, opts: StartRestoreOptions = {}): Promise<RestoreJson> {
  const row = await startRestore(backupClientOf(ctx), TEST_ADMIN, backupId, opts);
  await settled(ctx, row.workflow_id);
  return readRestore(backupClientOf(ctx), row.id);
}

/** Polls GET until the job has ended; answers its last JSON. */
export async function awaitJob(ctx: TestContext, path: string, timeoutMs = 60_000): Promise<{ status: string } & Record<string, unknown>> {
  return waitUntil(
    `GET ${path} to finish`,
    async () => {
      const res = await call(`${ctx.baseUrl}${path}`);
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.status === 'completed' || res.body.status === 'failed' ? res.body : undefined;
    },
    timeoutMs,
    200,
  );
}

export interface SeededAsset {
  id: string;
  versions: Array<{ id: string; objectKey: string; sha256: string; size: number }>;
}

/** `count` assets of `versions` versions each (random bytes of 1..`maxBytes`), rows and objects, in bulk. */
export async function seedCatalog(ctx: TestContext, count: number, opts: { versions?: number; maxBytes?: number } = {}): Promise<SeededAsset[]> {
  const perAsset = opts.versions ?? 1;
  const assets: Array<Record<string, unknown>> = [];
  const versions: Array<Record<string, unknown>> = [];
  const metadata: Array<Record<string, unknown>> = [];
  const objects: Array<{ key: string; body: Buffer }> = [];
  const seeded: SeededAsset[] = [];
  for (let i = 0; i < count; i++) {
    const id = uuidv7();
    const list: SeededAsset['versions'] = [];
    for (let n = 1; n <= perAsset; n++) {
      const versionId = uuidv7();
      const body = randomBytes(1 + Math.floor(Math.random() * (opts.maxBytes ?? 4096)));
      const objectKey = objectKeyFor(id, versionId);
      objects.push({ key: objectKey, body });
      list.push({ id: versionId, objectKey, sha256: sha256(body), size: body.length });
      versions.push({
        id: versionId,
        asset_id: id,
        version_number: n,
        object_key: objectKey,
        size_bytes: body.length,
        content_type: 'image/png',
        checksum_sha256: sha256(body),
        superseded_at: n < perAsset ? new Date() : null,
      });
    }
    const current = list[list.length - 1];
    assets.push({
      id,
      name: `seeded-${i}.png`,
      content_type: 'image/png',
      size_bytes: current.size,
      checksum_sha256: current.sha256,
      current_version_id: current.id,
      version_count: perAsset,
      last_version_number: perAsset,
      tags: ['seeded', `n${i}`],
    });
    metadata.push({ asset_id: id, key: 'index', value: String(i) });
    seeded.push({ id, versions: list });
  }
  await ctx.db.transaction(async (trx) => {
    await trx.batchInsert('assets', assets, 500);
    await trx.batchInsert('asset_versions', versions, 500);
    await trx.batchInsert('asset_metadata', metadata, 500);
  });
  await mapLimit(objects, 16, (o) => ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: o.key, Body: o.body })));
  return seeded;
}

export const blobKeys = (ctx: TestContext) => keysOf(ctx, ctx.config.s3.backupBucket, 'blobs/');

export async function objectBytes(ctx: TestContext, bucket: string, key: string): Promise<Buffer> {
  const object = await ctx.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

export async function manifestLines(ctx: TestContext, key: string): Promise<Array<Record<string, unknown> & { type: string }>> {
  const text = (await objectBytes(ctx, ctx.config.s3.backupBucket, key)).toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** An asset as a client sees it: its JSON, its versions' JSON (oldest first) and each version's bytes' SHA-256. */
export interface AssetView {
  asset: Record<string, unknown>;
  versions: VersionJson[];
  contents: Record<string, string>;
}

export async function viewAsset(ctx: TestContext, id: string): Promise<AssetView | undefined> {
  const asset = await call(`${ctx.baseUrl}/api/v2/assets/${id}?include_deleted=true`);
  if (asset.status === 404) return undefined;
  if (asset.status !== 200) throw new Error(`GET asset ${id}: ${asset.status}`);
  // The rows, as the API shows them (GET .../versions answers 404 for a soft-deleted asset).
  const rows: VersionRow[] = await ctx.db('asset_versions').where({ asset_id: id }).orderBy('version_number');
  const contents: Record<string, string> = {};
  for (const row of rows) contents[row.id] = sha256(await objectBytes(ctx, ctx.config.s3.bucket, row.object_key));
  return { asset: asset.body, versions: rows.map(toVersionJson), contents };
}

/** The view without updated_at: a restore is a change of the asset (and lifecycle ages assets from it). */
export function comparable(view: AssetView | undefined) {
  if (!view) return view;
  const { updated_at: _updated, ...asset } = view.asset;
  return { ...view, asset };
}

/** A clean slate: every table the tests write, both buckets. */
export async function resetAll(ctx: TestContext): Promise<void> {
  await ctx.db.raw(
    'TRUNCATE restore_drills, backup_blob_checks, restore_items, backup_sweep_marks, backup_sweep_manifests, backup_jobs, upload_parts, upload_sessions, asset_metadata, asset_versions, assets, outbox_events, owner_usage CASCADE',
  );
  for (const bucket of [ctx.config.s3.bucket, ctx.config.s3.backupBucket]) {
    const keys = await keysOf(ctx, bucket);
    for (let i = 0; i < keys.length; i += 1000) {
      await ctx.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
    }
  }
}
