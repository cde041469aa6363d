/**
 * Where a restore to a point in time finds an asset's bytes when its kept versions do not reach back:
 * the newest completed backup, not removed, whose snapshot is at or before `as_of` and holds the asset,
 * and in it the asset's current version at the snapshot, whose blob (blobKeyFor its SHA-256) is in the
 * backup bucket. The upload that copies it back hashes what it copied against that SHA-256
 * (workflows/uploads/workflow.ts verifyStoredObject), so a damaged blob fails its asset, never writes
 * wrong bytes.
 *
 * Asset lines are in id order (lib/backups/manifest.ts): the assets of a page, sorted, are looked for in
 * one read of each candidate manifest's asset lines, which stops past the page's last id.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { headObject, isNotFound } from '../platform/storedObjects';
import { blobKeyFor } from './catalog';
import { ManifestCorruptError, readManifestLines, type AssetLine, type VersionLine } from './manifest';
import { manifestChecker } from './manifestChecks';
import { backupsBegunBy, type BackupCandidate } from './store/pointInTime';

/** The backups looked at, at most: older ones would only matter for assets all newer ones lack. */
const CANDIDATES = 100;

export interface BackupHit {
  backupId: string;
  snapshotAt: string;
  version: VersionLine;
}

export interface BackupLookup {
  db: Knex;
  s3: S3Client;
  bucket: string;
  signal?: AbortSignal;
  /** Called every few thousand lines read: the activity heartbeats (a large manifest takes a while). */
  beat?: () => void;
}

/**
 * For each of `assetIds` some backup holds as it was at or before `asOf`: the newest such backup and the
 * version. A backup whose manifest is missing or corrupt is passed over (`unreadable` says why), and
 * older ones looked at instead.
 */
export async function findInBackups(deps: BackupLookup, asOf: Date, assetIds: string[]): Promise<{ found: Map<string, BackupHit>; unreadable: string[] }> {
  const found = new Map<string, BackupHit>();
  const unreadable: string[] = [];
  if (assetIds.length === 0) return { found, unreadable };
  for (const backup of await backupsBegunBy(deps.db, asOf, CANDIDATES)) {
    try {
      if (!(await lookIn(deps, asOf, backup, assetIds, found))) break;
    } catch (err) {
      if (!(err instanceof ManifestCorruptError) && !isNotFound(err)) throw err;
      unreadable.push(
        `backup ${backup.id} was passed over: ${err instanceof ManifestCorruptError ? err.message : `its manifest ${backup.manifest_key} is missing`}`,
      );
    }
  }
  return { found, unreadable };
}

/** Looks for the assets not found yet in one backup; false when none is left to look for. */
async function lookIn(deps: BackupLookup, asOf: Date, backup: BackupCandidate, assetIds: string[], found: Map<string, BackupHit>): Promise<boolean> {
  const wanted = assetIds.filter((id) => !found.has(id)).sort();
  if (wanted.length === 0) return false;
  const manifest = { bucket: deps.bucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
  // Every line used is checked as an import checks it (a version's key is its ids', its SHA-256 an address).
  const checker = manifestChecker(backup.id, backup.manifest_key);
  const header = await headerOf(deps, backup, checker);
  if (Date.parse(header.snapshotAt) > asOf.getTime()) return true;
  const held = await currentVersionsIn(deps, manifest, header.assetsOffset, wanted, checker);
  for (const [assetId, version] of held) {
    // A blob gone from the bucket (retention, damage) leaves the asset to an older backup.
    if (await headObject(deps.s3, { bucket: deps.bucket, key: blobKeyFor(version.checksum_sha256) }, deps.signal)) {
      found.set(assetId, { backupId: backup.id, snapshotAt: header.snapshotAt, version });
    }
  }
  return true;
}

type Checker = ReturnType<typeof manifestChecker>;

async function headerOf(deps: BackupLookup, backup: BackupCandidate, checker: Checker): Promise<{ snapshotAt: string; assetsOffset: number }> {
  const manifest = { bucket: deps.bucket, key: backup.manifest_key, sizeBytes: backup.manifest_size_bytes };
  for await (const read of readManifestLines(deps.s3, manifest, 0, deps.signal)) {
    checker.visit(read);
    if (read.line.type !== 'header') break;
    return { snapshotAt: read.line.snapshot_at, assetsOffset: backup.assets_offset ?? read.end };
  }
  throw new ManifestCorruptError(`manifest ${backup.manifest_key} does not begin with the header of backup ${backup.id}`);
}

/** The current version line of each asset of `wanted` (sorted) the manifest holds. */
async function currentVersionsIn(
  deps: BackupLookup,
  manifest: { bucket: string; key: string; sizeBytes: number },
  assetsOffset: number,
  wanted: string[],
  checker: Checker,
): Promise<Map<string, VersionLine>> {
  const want = new Set(wanted);
  const last = wanted[wanted.length - 1];
  const held = new Map<string, VersionLine>();
  let asset: AssetLine | undefined;
  let lines = 0;
  for await (const read of readManifestLines(deps.s3, manifest, assetsOffset, deps.signal)) {
    if (++lines % 2000 === 0) deps.beat?.();
    const { line } = read;
    if (line.type === 'asset' || line.type === 'version') checker.visit(read);
    if (line.type === 'asset') {
      if (line.id > last) break;
      asset = want.has(line.id) ? line : undefined;
    } else if (line.type === 'version') {
      if (asset && line.asset_id === asset.id && line.id === asset.current_version_id) held.set(asset.id, line);
    } else if (line.type !== 'header') {
      break;
    }
  }
  return held;
}
