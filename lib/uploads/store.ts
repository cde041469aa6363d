/**
 * The store of upload sessions: the only code that runs SQL against upload_sessions, upload_parts, upload_stream_hashes and tus_uploads.
 */
export {};

// ---- used by lifecycle (moved from lib/lifecycle/sweep.ts) ----

import type { Knex } from 'knex';
import { exactTimeSql } from '../platform/db';

/**
 * Open sessions abort_incomplete_uploads takes (alias `s`, their asset `a` if any), oldest first:
 * `rules` is the phase's predicate and age bound (lib/lifecycle/store.ts), `after` a keyset position.
 */
export async function selectUploadCandidates(
  db: Knex,
  rules: { predicate: Knex.Raw; bound: Date },
  after: { at: string; id: string } | null,
  limit: number,
): Promise<Array<{ id: string; workflow_id: string; at: string }>> {
  const query = db('upload_sessions as s')
    .leftJoin('assets as a', 'a.id', 's.asset_id')
    .select('s.id', 's.workflow_id', db.raw(`${exactTimeSql('s.created_at')} AS at`))
    .where('s.status', 'open')
    .where('s.created_at', '<=', rules.bound)
    .where(rules.predicate)
    .orderBy([{ column: 's.created_at' }, { column: 's.id' }])
    .limit(limit);
  if (after) query.whereRaw('(s.created_at, s.id) > (?::timestamptz, ?::uuid)', [after.at, after.id]);
  return query;
}

// ---- used by lifecycle (moved from lib/platform/metrics.ts) ----

/** Upload sessions by status (the metrics' figures). */
export async function countSessionsByStatus(db: Knex): Promise<Array<{ status: string; n: number }>> {
  return db('upload_sessions').select('status', db.raw('count(*)::int AS n')).groupBy('status');
}
