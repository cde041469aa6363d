/**
 * The invariants judged once the system is quiet, each answering its violations. They read the
 * catalog (SQL), the bucket (S3, not through the proxy) and the API (every replica), and compare
 * with what the history says the service acknowledged.
 */
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { TestContext } from '../support/context';
import { MAX_VERSIONS, type Cluster } from './cluster';
import type { History } from './history';
import { fetchBytes } from './http';
import { permanentDeletionOf, type AckedVersion, type SessionFate } from './model';
import { sha256 } from './client';
import { query } from './quiet';

export interface Violation {
  invariant: string;
  message: string;
  assetId?: string;
}

export interface CheckDeps {
  ctx: TestContext;
  cluster: Cluster;
  history: History;
  fates: Map<string, SessionFate>;
  tokenOf(sub: string): string;
  readerToken: string;
  reader: string;
}

interface AssetRow {
  id: string;
  owner_id: string;
  name: string;
  is_deleted: boolean;
  current_version_id: string | null;
  version_count: number;
  revision: number;
  size_bytes: string;
  checksum_sha256: string | null;
  grants: Array<{ subject: string; access: string }>;
}

export async function assetRows(ctx: TestContext): Promise<Map<string, AssetRow>> {
  const rows = await query<AssetRow>(
    ctx,
    `SELECT a.id, a.owner_id, a.name, a.is_deleted, a.current_version_id, a.version_count, a.revision, a.size_bytes, a.checksum_sha256,
            COALESCE((SELECT json_agg(json_build_object('subject', g.subject, 'access', g.access) ORDER BY g.subject) FROM asset_grants g WHERE g.asset_id = a.id), '[]') AS grants
       FROM assets a`,
  );
  return new Map(rows.map((r) => [r.id, r]));
}

async function versionRows(ctx: TestContext) {
  return query<{ id: string; asset_id: string; object_key: string; checksum_sha256: string; size_bytes: string; created_at: Date }>(
    ctx,
    'SELECT id, asset_id, object_key, checksum_sha256, size_bytes, created_at FROM asset_versions',
  );
}

/** Every acknowledged version is there with its bytes, unless a later acknowledged change removed it (deletion for good, pruning). */
export async function versionsReadable(deps: CheckDeps, acked: AckedVersion[]): Promise<Violation[]> {
  const assets = await assetRows(deps.ctx);
  const versions = await versionRows(deps.ctx);
  const violations: Violation[] = [];
  const fail = (v: AckedVersion, message: string) =>
    violations.push({ invariant: 'acknowledged versions readable', assetId: v.assetId, message: `version ${v.versionId}: ${message}` });
  for (const v of acked) {
    const deletion = permanentDeletionOf(deps.history, v.assetId);
    const asset = assets.get(v.assetId);
    if (deletion === 'done') {
      if (asset) fail(v, 'its asset was deleted for good (acknowledged), yet its row is still there');
      continue;
    }
    if (!asset) {
      if (deletion !== 'maybe') fail(v, 'its asset is gone, and no permanent deletion of it was sent');
      continue;
    }
    const siblings = versions.filter((r) => r.asset_id === v.assetId);
    const row = siblings.find((r) => r.id === v.versionId);
    if (!row) {
      const newer = siblings.filter((r) => r.created_at.getTime() > v.entry.start - 1000);
      if (siblings.length < MAX_VERSIONS || newer.length < MAX_VERSIONS)
        fail(v, `no row, and only ${siblings.length} versions remain (${newer.length} newer): not pruned by STORAGE_MAX_VERSIONS=${MAX_VERSIONS}`);
      continue;
    }
    if (row.checksum_sha256 !== v.sha256 || Number(row.size_bytes) !== v.size)
      fail(v, `row says ${row.checksum_sha256}/${row.size_bytes} B, the client sent ${v.sha256}/${v.size} B`);
    const read = await bytesOf(deps, asset, v.versionId, row.object_key);
    if (read.error) fail(v, read.error);
    else if (read.sha256 !== v.sha256) fail(v, `reads as ${read.sha256}, the client sent ${v.sha256}`);
  }
  return violations;
}

/** A live asset's version through the API as its owner; a soft-deleted one's from the store (the owner is refused it). */
async function bytesOf(deps: CheckDeps, asset: AssetRow, versionId: string, key: string): Promise<{ sha256?: string; error?: string }> {
  const token = deps.tokenOf(asset.owner_id);
  const url = `${deps.cluster.apis[0].url}/api/v2/assets/${asset.id}/versions/${versionId}/content`;
  if (!asset.is_deleted) {
    const got = await fetchBytes(url, token);
    return got.bytes ? { sha256: sha256(got.bytes) } : { error: `the owner's download answered ${got.status} ${got.error ?? ''}` };
  }
  const refused = await fetchBytes(url, token);
  if (refused.status !== 404) return { error: `soft-deleted, yet its owner's download answered ${refused.status}` };
  const object = await deps.ctx.s3.send(new GetObjectCommand({ Bucket: deps.ctx.config.s3.bucket, Key: key })).catch((err: Error) => err);
  if (object instanceof Error) return { error: `soft-deleted and its object is unreadable: ${object.name}` };
  return { sha256: sha256(Buffer.from(await object.Body!.transformToByteArray())) };
}

async function bucketKeys(deps: CheckDeps): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await deps.ctx.s3.send(new ListObjectsV2Command({ Bucket: deps.ctx.config.s3.bucket, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys;
}

/** No row without its object, no object without its row, no current version missing, no multipart upload left open. */
export async function objectsMatchRows(deps: CheckDeps): Promise<Violation[]> {
  const keys = new Set(await bucketKeys(deps));
  const rows = await versionRows(deps.ctx);
  const rowKeys = new Set(rows.map((r) => r.object_key));
  const violations: Violation[] = [];
  for (const r of rows)
    if (!keys.has(r.object_key))
      violations.push({ invariant: 'every version row has its object', assetId: r.asset_id, message: `version ${r.id}: ${r.object_key} is not in the bucket` });
  for (const key of keys) {
    if (!rowKeys.has(key))
      violations.push({
        invariant: 'every object has its row',
        assetId: key.split('/')[1],
        message: `${key} has no version row; ${await sessionsOf(deps, key)}`,
      });
  }
  for (const a of (await assetRows(deps.ctx)).values()) {
    if (!a.current_version_id)
      violations.push({ invariant: 'every asset has a current version', assetId: a.id, message: `asset ${a.id} has none (${a.version_count} versions)` });
  }
  const open = await deps.ctx.s3.send(new ListMultipartUploadsCommand({ Bucket: deps.ctx.config.s3.bucket }));
  for (const u of open.Uploads ?? []) {
    violations.push({
      invariant: 'no multipart upload left open',
      assetId: u.Key?.split('/')[1],
      message: `${u.Key} (${u.UploadId}) started ${u.Initiated?.toISOString()}; ${await sessionsOf(deps, u.Key!)}`,
    });
  }
  return violations;
}

/** The sessions that wrote `key`, as the catalog remembers them (to tell whose object or multipart upload it is). */
async function sessionsOf(deps: CheckDeps, key: string): Promise<string> {
  const rows = await query(deps.ctx, 'SELECT id, kind, status, error, s3_upload_id, created_at, updated_at FROM upload_sessions WHERE object_key = $1', [key]);
  return rows.length ? `sessions: ${JSON.stringify(rows)}` : 'no session row names it';
}

/**
 * Each owner's usage row is the sum of the catalog's rows: bytes, assets and versions stored, and the
 * reservations of the owner's open or completing sessions (none, once quiet, unless one is stuck).
 */
export async function usageMatchesCatalog(deps: CheckDeps): Promise<Violation[]> {
  const rows = await query(deps.ctx, USAGE_SQL);
  const violations: Violation[] = [];
  for (const r of rows) {
    const usage = [r.usage_bytes, r.usage_assets, r.usage_versions, r.reserved_bytes, r.reserved_assets].map(String).join('/');
    const catalog = [r.catalog_bytes, r.catalog_assets, r.catalog_versions, r.session_bytes, r.session_assets].map(String).join('/');
    if (usage !== catalog) {
      violations.push({
        invariant: "usage is the catalog's sum",
        message: `owner ${r.owner_id}: usage bytes/assets/versions/reserved bytes/reserved assets ${usage}, catalog ${catalog}`,
      });
    }
  }
  return violations;
}

const USAGE_SQL = `
  SELECT o.owner_id, COALESCE(u.bytes_stored, 0)::bigint AS usage_bytes, COALESCE(u.assets, 0)::int AS usage_assets, COALESCE(u.versions, 0)::int AS usage_versions,
         COALESCE(u.reserved_bytes, 0)::bigint AS reserved_bytes, COALESCE(u.reserved_assets, 0)::int AS reserved_assets,
         COALESCE(c.bytes, 0)::bigint AS catalog_bytes, COALESCE(c.assets, 0)::int AS catalog_assets, COALESCE(c.versions, 0)::int AS catalog_versions,
         COALESCE(s.bytes, 0)::bigint AS session_bytes, COALESCE(s.assets, 0)::int AS session_assets
    FROM (SELECT owner_id FROM owner_usage UNION SELECT owner_id FROM assets) o
    LEFT JOIN owner_usage u ON u.owner_id = o.owner_id
    LEFT JOIN (SELECT a.owner_id, sum(v.bytes) AS bytes, count(*) AS assets, sum(v.n) AS versions
                 FROM assets a LEFT JOIN (SELECT asset_id, sum(size_bytes) AS bytes, count(*) AS n FROM asset_versions GROUP BY asset_id) v ON v.asset_id = a.id
                GROUP BY a.owner_id) c ON c.owner_id = o.owner_id
    LEFT JOIN (SELECT quota_owner_id AS owner_id, sum(reserved_bytes) AS bytes, count(*) FILTER (WHERE asset_id IS NULL) AS assets
                 FROM upload_sessions WHERE status IN ('open', 'completing') GROUP BY quota_owner_id) s ON s.owner_id = o.owner_id`;
