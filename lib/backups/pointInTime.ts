/**
 * Restores to a point in time (issue 28, POST /api/v2/restores): each asset a filter matches goes back
 * to the bytes it had at `as_of`. Where they come from, in order (`planAssets`):
 *
 * 1. `version`: the kept version that was current at `as_of`, unless a scrub marked it damaged (lib/assets/store/pointInTime.ts);
 * 2. `backup`: else the asset's current version in the newest completed backup whose snapshot is at or
 *    before `as_of` (lib/backups/pointInTimeBackups.ts);
 * 3. `unchanged`: the asset's current content already is that content (same SHA-256, not marked damaged): nothing written;
 * 4. `skipped`, with the reason: the asset did not exist at `as_of`, was deleted then, is being deleted
 *    for good, or neither source reaches back.
 * A version or backup source becomes a new current version of the asset through the upload machinery
 * (a copy upload: workflows/uploads/workflow.ts), which hashes the copy against the source's SHA-256 and
 * records the version's events, quota and audit row as every upload does: the restore is itself
 * undoable, the history kept. An asset soft-deleted after `as_of` is brought back (undeleted) first.
 * The bytes and content type are restored; the name, tags, metadata, grants and owner are kept as they
 * are (versions record none of them, so a restore from versions could not know them; a restore from a
 * backup does the same, so that the source does not change what a restore means).
 *
 * The restore is a backup_jobs row of mode `point_in_time` (lib/backups/store/pointInTime.ts), its
 * items one per asset, written once: a dry run writes the same items a real run would (as `planned`
 * where the real run writes), and nothing else.
 */
import type { Knex } from 'knex';
import type { S3Client } from '@aws-sdk/client-s3';
import { EMPTY_RESTORE_PROGRESS, restoreWorkflowId } from '../../workflows/backups/definitions';
import { actorRef, type ActorRef } from '../auth/actor';
import { existingAssetIds } from '../assets/store';
import { assetNow, oldestKeptVersionAt, versionCurrentAt, type AssetFilter, type AssetNow, type KeptVersion } from '../assets/store/pointInTime';
import { NotFoundError } from '../platform/errors';
import { uuidv7 } from '../platform/ids';
import { insertRestoreRow } from './store';
import { findInBackups, type BackupHit } from './pointInTimeBackups';
import type { PointInTimeItemRow, PointInTimeSource } from './store/pointInTime';
import type { RestoreScope } from './jobRows';

export type { AssetFilter };

/** Writes the restore's row (pending); unknown asset ids given by id are refused (404). */
export async function insertPointInTimeRestore(db: Knex, restore: { asOf: Date; filter: AssetFilter; dryRun: boolean; actor: ActorRef }): Promise<string> {
  if (restore.filter.asset_ids?.length) {
    const known = new Set<string>(await existingAssetIds(db, restore.filter.asset_ids));
    const unknown = restore.filter.asset_ids.filter((id) => !known.has(id));
    if (unknown.length) throw new NotFoundError(`asset${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} not found`);
  }
  const id = uuidv7();
  const scope: RestoreScope = { as_of: restore.asOf.toISOString(), filter: restore.filter, dry_run: restore.dryRun };
  await db.transaction((trx) =>
    insertRestoreRow(trx, {
      id,
      kind: 'restore',
      status: 'pending',
      backup_id: null,
      scope: JSON.stringify(scope),
      mode: 'point_in_time',
      progress: JSON.stringify(EMPTY_RESTORE_PROGRESS),
      workflow_id: restoreWorkflowId(id),
      actor: JSON.stringify(actorRef(restore.actor)),
    }),
  );
  return id;
}

/** Where an asset's bytes at `as_of` are, and what restoring it means. */
export type Plan =
  | { source: 'version'; version: KeptVersion; undelete: boolean }
  | { source: 'backup'; hit: BackupHit; undelete: boolean }
  | { source: 'unchanged'; sha256: string; versionId: string | null; backupId: string | null; undelete: boolean }
  | { source: 'skipped'; reason: string };

export interface PlanDeps {
  db: Knex;
  s3: S3Client;
  /** The backup bucket. */
  bucket: string;
  signal?: AbortSignal;
  beat?: () => void;
}

/** The plan of each of `assetIds` (in one read of each backup that may be needed). */
export async function planAssets(deps: PlanDeps, asOf: Date, assetIds: string[]): Promise<Map<string, Plan>> {
  const plans = new Map<string, Plan>();
  const needBackup: string[] = [];
  const seen = new Map<string, { asset: AssetNow; version: KeptVersion | undefined }>();
  for (const id of assetIds) {
    const asset = await assetNow(deps.db, id);
    const refused = asset ? refusal(asset, asOf) : `asset ${id} no longer exists`;
    if (refused !== undefined) {
      plans.set(id, { source: 'skipped', reason: refused });
      continue;
    }
    const version = await versionCurrentAt(deps.db, id, asOf);
    seen.set(id, { asset: asset!, version });
    if (!version) needBackup.push(id);
  }
  const { found, unreadable } = await findInBackups(deps, asOf, needBackup);
  for (const [id, { asset, version }] of seen) {
    const hit = found.get(id);
    plans.set(id, version ? fromSource(asset, { version }) : hit ? fromSource(asset, { hit }) : await noSource(deps.db, asset, asOf, unreadable));
  }
  return plans;
}

/** Why the asset is not restored whatever its sources hold, if it is not. */
function refusal(asset: AssetNow, asOf: Date): string | undefined {
  if (asset.purging_since) return `asset ${asset.id} is being deleted for good`;
  if (asset.created_at > asOf) return `asset ${asset.id} did not exist at as_of: it was created at ${asset.created_at.toISOString()}`;
  if (asset.deleted_at && asset.deleted_at <= asOf) return `asset ${asset.id} was deleted at as_of (since ${asset.deleted_at.toISOString()}): it stays deleted`;
  return undefined;
}

function fromSource(asset: AssetNow, source: { version: KeptVersion } | { hit: BackupHit }): Plan {
  const undelete = asset.is_deleted;
  const sha256 = 'version' in source ? source.version.checksum_sha256 : source.hit.version.checksum_sha256;
  // A damaged current version holds other bytes than its SHA-256 says: it is not that content.
  if (sha256 === asset.checksum_sha256 && !asset.current_damaged) {
    return 'version' in source
      ? { source: 'unchanged', sha256, versionId: source.version.id, backupId: null, undelete }
      : { source: 'unchanged', sha256, versionId: source.hit.version.id, backupId: source.hit.backupId, undelete };
  }
  return 'version' in source ? { source: 'version', version: source.version, undelete } : { source: 'backup', hit: source.hit, undelete };
}

async function noSource(db: Knex, asset: AssetNow, asOf: Date, unreadable: string[]): Promise<Plan> {
  const oldest = await oldestKeptVersionAt(db, asset.id);
  const versions = oldest ? `its oldest kept version is from ${oldest.toISOString()}` : 'it keeps no version';
  const passedOver = unreadable.length ? ` (${unreadable.join('; ')})` : '';
  return {
    source: 'skipped',
    reason: `neither source reaches back to ${asOf.toISOString()}: ${versions}, and no completed backup at or before then holds it${passedOver}`,
  };
}

/** The item a plan records: `written` is what a real run made of it (a dry run writes `planned`). */
export function itemOf(assetId: string, plan: Plan, written: { dryRun: boolean; versionId?: string; error?: string; bytes?: number }): PointInTimeItemRow {
  const base = { asset_id: assetId, source: plan.source as PointInTimeSource, version_id: written.versionId ?? null, bytes_copied: written.bytes ?? 0 };
  const undeleted = 'undelete' in plan && plan.undelete && !written.dryRun;
  switch (plan.source) {
    case 'skipped':
      return { ...base, status: 'skipped', source_version_id: null, source_backup_id: null, sha256: null, undeleted: false, error: plan.reason };
    case 'unchanged':
      return { ...base, status: 'skipped', source_version_id: plan.versionId, source_backup_id: plan.backupId, sha256: plan.sha256, undeleted, error: null };
    case 'version':
    case 'backup': {
      const source =
        plan.source === 'version'
          ? { id: plan.version.id, backup: null, sha256: plan.version.checksum_sha256 }
          : { id: plan.hit.version.id, backup: plan.hit.backupId, sha256: plan.hit.version.checksum_sha256 };
      const status = written.dryRun ? 'planned' : written.error ? 'failed' : 'restored';
      return { ...base, status, source_version_id: source.id, source_backup_id: source.backup, sha256: source.sha256, undeleted, error: written.error ?? null };
    }
  }
}
