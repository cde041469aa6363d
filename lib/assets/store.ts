/**
 * The store of an asset (its row, its versions, its metadata and its grants): the only code that runs SQL against assets, asset_versions, asset_metadata and asset_grants.
 */
export {};

// ---- used by lifecycle (moved from lib/lifecycle/sweep.ts) ----
// A sweep's candidates: `rules` is the phase's predicate and age bound (lib/lifecycle/store.ts), `after`
// a keyset position of exact time text and id.

import type { Knex } from 'knex';
import { exactTimeSql } from '../platform/db';
import { rankedVersions } from './versions';

/** Soft-deleted assets a purge takes, oldest deletion first, each with the bytes of all its versions. */
export async function selectPurgeCandidates(
  db: Knex,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; at: string; size_bytes: number }>> {
  const query = db('assets as a')
    .select(
      'a.id',
      db.raw(`${exactTimeSql('a.deleted_at')} AS at`),
      db.raw('(SELECT COALESCE(sum(v.size_bytes), 0) FROM asset_versions v WHERE v.asset_id = a.id)::bigint AS size_bytes'),
    )
    .where('a.is_deleted', true)
    .where('a.deleted_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.deleted_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.deleted_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
}

/** Live assets expire_assets takes, least recently updated first; with `lock`, locked FOR UPDATE. */
export async function selectExpireCandidates(
  trx: Knex.Transaction,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
  lock: boolean,
): Promise<Array<{ id: string; at: string }>> {
  const query = trx('assets as a')
    .select('a.id', trx.raw(`${exactTimeSql('a.updated_at')} AS at`))
    .where('a.is_deleted', false)
    .where('a.updated_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 'a.updated_at' }, { column: 'a.id' }])
    .limit(limit);
  if (after) query.whereRaw('(a.updated_at, a.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return lock ? query.forUpdate() : query;
}

/** Soft-deletes those of `ids` still live; answers their ids. */
export async function softDeleteLiveAssets(trx: Knex.Transaction, ids: string[]): Promise<Array<{ id: string }>> {
  return trx('assets')
    .whereRaw('id = ANY(?::uuid[])', [ids])
    .where('is_deleted', false)
    .update({ is_deleted: true, deleted_at: trx.fn.now(), revision: trx.raw('revision + 1') })
    .returning('id');
}

/** The next `limit` asset ids in id order, after `after` (or from it, `inclusive`). */
export async function selectAssetIdsFrom(db: Knex, after: { id: string; inclusive: boolean } | null, limit: number): Promise<string[]> {
  const next = db('assets').orderBy('id').limit(limit);
  if (after) next.where('id', after.inclusive ? '>=' : '>', after.id);
  return next.pluck('id');
}

/**
 * Noncurrent versions `rules` takes (alias `r`, ranked per asset by rankedVersions) among the assets
 * `from`..`to`, in (asset, version) order after `after`; none of an asset `purge` takes.
 */
export function selectVersionCandidates(
  db: Knex,
  rules: Knex.Raw,
  purge: Knex.Raw | undefined,
  range: { from: string; to: string; after?: { asset_id: string; version_number: number | null } },
  limit: number,
): Knex.QueryBuilder {
  const query = db('assets as a')
    // (knex types raw bindings as values; a query builder binding is a subquery, as documented.)
    .joinRaw('CROSS JOIN LATERAL ? AS r', [rankedVersions(db, (q) => q.whereRaw('v.asset_id = a.id')) as unknown as Knex.Value])
    .select('r.id', 'r.asset_id', 'r.version_number', 'r.object_key', 'r.size_bytes')
    .whereBetween('a.id', [range.from, range.to])
    .whereNotNull('r.superseded_at')
    .where(rules)
    .orderBy(['a.id', 'r.version_number'])
    .limit(limit);
  const after = range.after;
  if (after?.version_number != null) query.whereRaw('(r.asset_id, r.version_number) > (?::uuid, ?::int)', [after.asset_id, after.version_number]);
  if (purge) query.whereRaw('NOT (a.is_deleted AND (?))', [purge]);
  return query;
}

// ---- used by lifecycle (moved from activities/lifecycle.ts) ----

/** The rows of versions being retired, with the columns the backups' handoff needs. */
export async function selectVersionsById<Row>(db: Knex, ids: string[], columns: readonly string[]): Promise<Row[]> {
  return (await db('asset_versions')
    .whereIn('id', ids)
    .select(...columns)) as Row[];
}

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

/** Assets and the bytes of all their versions, live and soft-deleted apart (the metrics' figures). */
export async function countAssetsByState(db: Knex): Promise<Array<{ state: string; assets: number; bytes: number }>> {
  const assets = await db.raw(`
    SELECT CASE WHEN a.is_deleted THEN 'deleted' ELSE 'live' END AS state,
           count(DISTINCT a.id)::int AS assets,
           COALESCE(sum(v.size_bytes), 0)::bigint AS bytes
      FROM assets a LEFT JOIN asset_versions v ON v.asset_id = a.id
     GROUP BY 1`);
  return assets.rows;
}
