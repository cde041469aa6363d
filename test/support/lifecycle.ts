/**
 * Helpers for the lifecycle tests: a catalog seeded in bulk (rows written directly, with tiny real
 * objects) and aged by setting its timestamps, runs started and awaited, and the checks that the
 * bucket and the catalog agree.
 */
import { TEST_ADMIN, bearer } from './auth';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { mapLimit } from '../../lib/platform/concurrency';
import { uuidv7 } from '../../lib/platform/ids';
import { objectKeyFor } from '../../lib/assets/keys';
import { getRun, type LifecycleRunRow } from '../../lib/lifecycle/sweep';
import { startLifecycleRun, type LifecycleClient, type StartRunOptions } from '../../lib/lifecycle/sweepRuns';
import { workflowClientsOf } from '../../api/deps';
import { sha256 } from './assets';
import { objectKeys } from './catalog';
import type { TestContext } from './context';

const DAY_MS = 86_400_000;
export const daysAgo = (days: number, from = Date.now()) => new Date(from - days * DAY_MS);

export interface AssetSpec {
  name: string;
  contentType?: string;
  tags?: string[];
  /** Ages (days ago) at which each noncurrent version stopped being current, oldest version first; a current version follows. */
  noncurrentDaysAgo?: number[];
  updatedDaysAgo?: number;
  deletedDaysAgo?: number;
}

export interface SeededVersion {
  id: string;
  versionNumber: number;
  objectKey: string;
  sizeBytes: number;
  current: boolean;
}

export interface SeededAsset {
  id: string;
  name: string;
  versions: SeededVersion[];
}

/**
 * Assets with their versions, written straight into the catalog (timestamps as the spec ages them)
 * with a small object per version in the bucket, in bulk. `objectsFor` limits the objects to some
 * assets (a PUT costs milliseconds on a busy machine; rows cost microseconds).
 */
export async function seedAssets(ctx: TestContext, specs: AssetSpec[], opts: { objectsFor?: (index: number) => boolean } = {}): Promise<SeededAsset[]> {
  const now = Date.now();
  const assets: Array<Record<string, unknown>> = [];
  const versions: Array<Record<string, unknown>> = [];
  const objects: Array<{ key: string; body: Buffer }> = [];
  const seeded: SeededAsset[] = specs.map((spec, index) => {
    const id = uuidv7();
    const noncurrent = spec.noncurrentDaysAgo ?? [];
    const ages: Array<number | null> = [...noncurrent, null];
    const created = daysAgo(Math.max(spec.updatedDaysAgo ?? 0, spec.deletedDaysAgo ?? 0, ...noncurrent) + 1, now);
    const list: SeededVersion[] = ages.map((age, i) => {
      const versionId = uuidv7();
      const body = Buffer.from(`${spec.name} v${i + 1} ${versionId}`);
      const objectKey = objectKeyFor(id, versionId);
      if (opts.objectsFor?.(index) ?? true) objects.push({ key: objectKey, body });
      versions.push({
        id: versionId,
        asset_id: id,
        version_number: i + 1,
        object_key: objectKey,
        size_bytes: body.length,
        content_type: spec.contentType ?? 'application/octet-stream',
        checksum_sha256: sha256(body),
        created_at: created,
        superseded_at: age === null ? null : daysAgo(age, now),
      });
      return { id: versionId, versionNumber: i + 1, objectKey, sizeBytes: body.length, current: age === null };
    });
    const current = list[list.length - 1];
    assets.push({
      id,
      name: spec.name,
      content_type: spec.contentType ?? 'application/octet-stream',
      size_bytes: current.sizeBytes,
      checksum_sha256: versions[versions.length - 1].checksum_sha256,
      current_version_id: current.id,
      version_count: list.length,
      last_version_number: list.length,
      tags: spec.tags ?? [],
      is_deleted: spec.deletedDaysAgo !== undefined,
      deleted_at: spec.deletedDaysAgo === undefined ? null : daysAgo(spec.deletedDaysAgo, now),
      created_at: created,
      updated_at: daysAgo(spec.updatedDaysAgo ?? 0, now),
    });
    return { id, name: spec.name, versions: list };
  });
  await ctx.db.transaction(async (trx) => {
    await trx.batchInsert('assets', assets, 1000);
    await trx.batchInsert('asset_versions', versions, 1000);
  });
  await mapLimit(objects, 16, (o) => ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: o.key, Body: o.body })));
  return seeded;
}

/** Every key in the file's bucket under `prefix`. */
export function bucketKeys(ctx: TestContext, prefix = 'assets/'): Promise<string[]> {
  return objectKeys(ctx, prefix);
}

/**
 * Rows whose object is missing and objects without a row, over every asset or the given ones: both
 * empty when the catalog and the bucket agree.
 */
export async function mismatches(ctx: TestContext, assetIds?: string[]): Promise<{ rowsWithoutObject: string[]; objectsWithoutRow: string[] }> {
  const prefixes = assetIds ? assetIds.map((id) => `assets/${id}/`) : ['assets/'];
  const keys = new Set((await Promise.all(prefixes.map((p) => bucketKeys(ctx, p)))).flat());
  const query = ctx.db('asset_versions');
  if (assetIds) query.whereIn('asset_id', assetIds);
  const rows = new Set<string>(await query.pluck('object_key'));
  return {
    rowsWithoutObject: [...rows].filter((k) => !keys.has(k)).sort(),
    objectsWithoutRow: [...keys].filter((k) => !rows.has(k)).sort(),
  };
}

/** A fresh catalog and bucket for the next test (a sweep applies to everything in the database). */
export async function resetCatalog(ctx: TestContext): Promise<void> {
  await ctx.db.raw(
    'TRUNCATE lifecycle_runs, policy_rules, lifecycle_policies, upload_parts, upload_sessions, asset_metadata, asset_versions, assets, outbox_events, owner_usage CASCADE',
  );
  const keys = await bucketKeys(ctx, '');
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000).map((Key) => ({ Key }));
    await ctx.s3.send(new DeleteObjectsCommand({ Bucket: ctx.config.s3.bucket, Delete: { Objects: chunk, Quiet: true } }));
  }
}

export function lifecycleClientOf(ctx: TestContext, taskQueue = ctx.config.temporal.taskQueue): LifecycleClient {
  return { ...workflowClientsOf(ctx).lifecycle, taskQueue };
}

/** Starts a run the way the API does and waits for its workflow; answers the run's row. */
export async function runSweep(ctx: TestContext, opts: StartRunOptions = {}): Promise<LifecycleRunRow> {
  const run = await startLifecycleRun(lifecycleClientOf(ctx), TEST_ADMIN, opts);
  await ctx.temporal.client.workflow.getHandle(run.workflow_id).result();
  return getRun(ctx.db, run.id);
}

export async function createPolicyRow(ctx: TestContext, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${ctx.baseUrl}/api/v2/policies`, {
    method: 'POST',
    headers: { ...(await bearer()), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string };
  if (res.status !== 201) throw new Error(`POST /api/v2/policies: ${res.status} ${JSON.stringify(json)}`);
  return json.id;
}

/** The versions (numbers) each asset still has. */
export async function versionNumbers(ctx: TestContext, assetId: string): Promise<number[]> {
  return ctx.db('asset_versions').where({ asset_id: assetId }).orderBy('version_number').pluck('version_number');
}

/** The outbox's storage.asset.deleted events, as subject and whether permanent. */
export async function deletedEvents(ctx: TestContext): Promise<Array<{ subject: string; permanent: boolean }>> {
  const rows = await ctx.db('outbox_events').where({ type: 'storage.asset.deleted' }).orderBy('sequence').select('subject', 'data');
  return rows.map((r: { subject: string; data: { permanent: boolean } }) => ({ subject: r.subject, permanent: r.data.permanent }));
}
