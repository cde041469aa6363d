/**
 * The store of an asset (its row, its versions, its metadata and its grants): the only code that runs SQL against assets, asset_versions, asset_metadata and asset_grants.
 */
export {};

// ---- used by backups (moved from lib/backups/restore.ts, handoff.ts, manifest.ts, backupRuns.ts, activities/backups/backup.ts) ----
import type { Knex as BackupsKnex } from 'knex';
import { exactTimeSql as backupsExactTimeSql } from '../platform/db';

/** Of `ids`, those an asset has (startBackup: the assets a backup's scope names). */
export async function existingAssetIds(db: BackupsKnex, ids: string[]): Promise<string[]> {
  return db('assets').whereRaw('id = ANY(?::uuid[])', [ids]).pluck('id');
}

/** Step 1 of a deletion for versions (lib/backups/handoff.ts): their rows locked in id order. */
export async function markVersionRowsDeleting(db: BackupsKnex, ids: string[]): Promise<void> {
  await db.raw(
    `UPDATE asset_versions SET deleting_since = now()
      WHERE id IN (SELECT id FROM asset_versions WHERE id = ANY(?::uuid[]) AND deleting_since IS NULL ORDER BY id FOR UPDATE)`,
    [ids],
  );
}

/** Step 1 of a deletion for a whole asset (lib/backups/handoff.ts). */
export async function markAssetRowPurging(db: BackupsKnex, assetId: string): Promise<void> {
  await db('assets').where({ id: assetId }).whereNull('purging_since').update({ purging_since: db.fn.now() });
}

/** Other versions holding a content, to back it up from (the manifest's source may be gone). */
export async function otherVersionsWithContent(
  db: BackupsKnex,
  sha256: string,
  exceptObjectKey: string,
): Promise<Array<{ object_key: string; asset_id: string; id: string }>> {
  return db('asset_versions').where({ checksum_sha256: sha256 }).whereNot({ object_key: exceptObjectKey }).limit(3).select('object_key', 'asset_id', 'id');
}

/** What a restore compares the backup with: the asset's row and its versions. */
export async function restoreLiveAssetRow<T>(db: BackupsKnex | BackupsKnex.Transaction, assetId: string): Promise<T | undefined> {
  return (await db('assets').where({ id: assetId }).select('id', 'is_deleted', 'last_version_number', 'revision').first()) as T | undefined;
}

export async function restoreLiveVersionRows<T>(db: BackupsKnex | BackupsKnex.Transaction, assetId: string): Promise<T[]> {
  return (await db('asset_versions')
    .where({ asset_id: assetId })
    .orderBy('version_number')
    .select('id', 'version_number', 'object_key', 'size_bytes', 'checksum_sha256', 'superseded_at')) as T[];
}

/** The asset's row, locked for a restore's commit. */
export async function lockAssetRowForRestore<T>(trx: BackupsKnex.Transaction, assetId: string): Promise<T | undefined> {
  return (await trx('assets').where({ id: assetId }).forUpdate().first()) as T | undefined;
}

export async function deleteAssetVersionRows(trx: BackupsKnex.Transaction, assetId: string, ids: string[]): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereIn('id', ids).delete();
}

export async function assetVersionIds(trx: BackupsKnex.Transaction, assetId: string): Promise<string[]> {
  return trx('asset_versions').where({ asset_id: assetId }).pluck('id');
}

export async function insertRestoredAssetRow(trx: BackupsKnex.Transaction, row: Record<string, unknown>): Promise<void> {
  await trx('assets').insert(row);
}

export async function updateRestoredAssetRow(trx: BackupsKnex.Transaction, assetId: string, fields: Record<string, unknown>): Promise<void> {
  await trx('assets').where({ id: assetId }).update(fields);
}

export async function insertRestoredVersionRows(trx: BackupsKnex.Transaction, rows: Array<Record<string, unknown>>): Promise<void> {
  await trx('asset_versions').insert(rows);
}

export async function setVersionSupersededAt(trx: BackupsKnex.Transaction, versionId: string, supersededAt: string | null): Promise<void> {
  await trx('asset_versions').where({ id: versionId }).update({ superseded_at: supersededAt });
}

/** Supersedes, now, the asset's current versions other than `keep`. */
export async function supersedeVersionsOutside(trx: BackupsKnex.Transaction, assetId: string, keep: string[]): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereNotIn('id', keep).whereNull('superseded_at').update({ superseded_at: trx.fn.now() });
}

export async function newestVersionRow<T>(trx: BackupsKnex.Transaction, assetId: string): Promise<T | undefined> {
  return (await trx('asset_versions').where({ asset_id: assetId }).orderBy('version_number', 'desc').first()) as T | undefined;
}

/** Supersedes, now, the asset's current versions but `versionId`. */
export async function supersedeVersionsBut(trx: BackupsKnex.Transaction, assetId: string, versionId: string): Promise<void> {
  await trx('asset_versions').where({ asset_id: assetId }).whereNot({ id: versionId }).whereNull('superseded_at').update({ superseded_at: trx.fn.now() });
}

export async function countAssetVersionRows(trx: BackupsKnex.Transaction, assetId: string): Promise<number> {
  const [{ n }] = await trx('asset_versions').where({ asset_id: assetId }).count({ n: '*' });
  return Number(n);
}

function backupsInScope(query: BackupsKnex.QueryBuilder, scope: { asset_ids?: string[] }) {
  if (scope.asset_ids) query.whereRaw('a.id = ANY(?::uuid[])', [scope.asset_ids]);
  return query;
}

/** A page of a backup manifest's asset lines, read in its snapshot (lib/backups/manifest.ts). */
export async function manifestAssetPage<T>(
  trx: BackupsKnex.Transaction,
  scope: { asset_ids?: string[] },
  after: string | null,
  pageSize: number,
): Promise<T[]> {
  const query = trx('assets as a')
    .select(
      trx.raw(`'asset' AS type`),
      'a.id',
      'a.name',
      'a.content_type',
      'a.size_bytes',
      'a.checksum_sha256',
      'a.current_version_id',
      // Versions being deleted are left out (lib/backups/handoff.ts): the count is what it will be.
      trx.raw('(a.version_count - (SELECT count(*) FROM asset_versions d WHERE d.asset_id = a.id AND d.deleting_since IS NOT NULL))::int AS version_count'),
      'a.last_version_number',
      'a.tags',
      trx.raw(`COALESCE((SELECT jsonb_object_agg(m.key, m.value) FROM asset_metadata m WHERE m.asset_id = a.id), '{}'::jsonb) AS metadata`),
      'a.owner_id',
      'a.revision',
      trx.raw(
        `COALESCE((SELECT jsonb_agg(jsonb_build_object('subject', g.subject, 'access', g.access) ORDER BY g.subject)
                 FROM asset_grants g WHERE g.asset_id = a.id), '[]'::jsonb) AS grants`,
      ),
      'a.is_deleted',
      trx.raw(`${backupsExactTimeSql('a.deleted_at')} AS deleted_at`),
      trx.raw(`${backupsExactTimeSql('a.created_at')} AS created_at`),
      trx.raw(`${backupsExactTimeSql('a.updated_at')} AS updated_at`),
    )
    .whereNull('a.purging_since')
    .orderBy('a.id')
    .limit(pageSize);
  if (after) query.where('a.id', '>', after);
  return backupsInScope(query, scope);
}

/** The version lines of those assets (only current versions unless `allVersions`), in the manifest's snapshot. */
export async function manifestVersionsOf<T>(trx: BackupsKnex.Transaction, assetIds: string[], allVersions: boolean): Promise<T[]> {
  const query = trx('asset_versions as v')
    .select(
      trx.raw(`'version' AS type`),
      'v.id',
      'v.asset_id',
      'v.version_number',
      'v.object_key',
      'v.size_bytes',
      'v.content_type',
      'v.checksum_sha256',
      'v.upload_id',
      trx.raw(`${backupsExactTimeSql('v.created_at')} AS created_at`),
      trx.raw(`${backupsExactTimeSql('v.superseded_at')} AS superseded_at`),
    )
    .whereRaw('v.asset_id = ANY(?::uuid[])', [assetIds])
    .whereNull('v.deleting_since')
    .orderBy([{ column: 'v.asset_id' }, { column: 'v.version_number' }]);
  if (!allVersions) query.join('assets as a', 'a.current_version_id', 'v.id');
  return query;
}

/** The SQL of one row per distinct content in a backup's scope, with the version it is copied from (the first by key). */
export function manifestBlobsSql(trx: BackupsKnex.Transaction, scope: { asset_ids?: string[]; include_all_versions: boolean }) {
  const query = trx('asset_versions as v')
    .join('assets as a', 'a.id', 'v.asset_id')
    .distinctOn('v.checksum_sha256')
    .select('v.checksum_sha256 as sha256', 'v.size_bytes', 'v.asset_id', 'v.id as version_id', 'v.object_key')
    .whereNull('v.deleting_since')
    .whereNull('a.purging_since')
    .orderBy([{ column: 'v.checksum_sha256' }, { column: 'v.object_key' }]);
  if (!scope.include_all_versions) query.whereRaw('v.id = a.current_version_id');
  return backupsInScope(query, scope).toSQL();
}
