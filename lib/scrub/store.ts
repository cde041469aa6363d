/**
 * The store of the scrub (issue 28): the only code that runs SQL against `scrubs` and `scrub_findings`, and the scrub's reads
 * of the catalog it reconciles with the buckets (asset_versions, assets, upload_sessions, backup_jobs)
 * and its writes of the three columns its migration added to asset_versions (verified_at, damaged_at,
 * damage: no other writer sets them; a version's other columns stay lib/assets/store.ts's).
 *
 * Invariants:
 * - scrubs: one row per run of scrub-{id}. `status` goes pending → running → completed | failed, and
 *   never back; `phase` and `cursor` are saved after each step of the run (only while it is running),
 *   so a run that crashed resumes where its row says. `counts` holds one number per finding kind
 *   (workflows/scrub/definitions.ts FINDING_KINDS); `repaired` + `unrepairable` never exceed their sum.
 * - scrub_findings: one row per (scrub, kind, subject: a version id, an object key, an upload, a blob's
 *   SHA-256), its outcome set once the scrub acted on it. A scrub's counts, repaired and unrepairable are
 *   counted from its rows (findingTotals), so a step retried after a crash, which reads again what the
 *   lost attempt read, counts each finding once; the rows go with their scrub.
 * - asset_versions.verified_at: when the scrub last re-read the version's object and found the catalog's
 *   SHA-256 and size; `damaged_at`/`damage`: set (with storage.version.damaged, in the same transaction)
 *   when neither the object nor any backup blob holds the right bytes; cleared by the repair that puts
 *   them back (a scrub's, or a restore's: it clears damaged_at alone), and by a sample that finds the
 *   object hashing right (a repair that died between its copy and its mark).
 * - An orphan's removal is guarded against a writer that puts a key at the same moment (an upload, a
 *   restore): only an object older than the grace period, whose key no version row and no open or
 *   completing session names, and whose HEAD still answers the ETag and LastModified the listing gave,
 *   is deleted, the last look and the delete under the key's advisory lock (lib/assets/store.ts
 *   lockObjectKeys). A backup restore, the writer that puts bytes at a key that may hold an orphan (its
 *   versions keep their keys), takes that lock in the transaction that commits its rows and checks its
 *   objects under it: a removal that went first makes it copy them again (test/races.scrub.test.ts).
 *   An upload writes a fresh key under an open session, which the checks see.
 *
 * - A repair that put a version's object back keeps it only when, looked at under the key's lock, the
 *   version's row is there and no deletion claims it (versionUnclaimed); otherwise it removes what it
 *   put there (a prune or a permanent deletion that ran meanwhile would be left an orphan).
 *
 * Lock order: the scrub's row alone (an UPDATE, in its own statement); a damage mark takes only the
 * version's row (a suffix of the asset lock order: docs/architecture.md), then its outbox event and
 * audit row.
 */
import type { Knex } from 'knex';
import type { ActorRef } from '../auth/actor';
import type { FindingCounts, ScrubCursor, ScrubPhase, ScrubStatus } from '../../workflows/scrub/definitions';

type Db = Knex | Knex.Transaction;

export interface ScrubRow {
  id: string;
  status: ScrubStatus;
  dry_run: boolean;
  sample_percent: number;
  trigger: 'api' | 'schedule';
  actor: ActorRef | null;
  workflow_id: string;
  phase: ScrubPhase;
  cursor: ScrubCursor | null;
  counts: Partial<FindingCounts>;
  repaired: number;
  unrepairable: number;
  bytes_hashed: number;
  objects_listed: number;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

function rowOf(raw: Record<string, unknown> | undefined): ScrubRow | undefined {
  if (!raw) return undefined;
  return {
    ...(raw as unknown as ScrubRow),
    sample_percent: Number(raw.sample_percent),
    bytes_hashed: Number(raw.bytes_hashed),
    objects_listed: Number(raw.objects_listed),
  };
}

export async function insertScrubRow(
  db: Db,
  row: { id: string; dry_run: boolean; sample_percent: number; trigger: 'api' | 'schedule'; actor: ActorRef; workflow_id: string },
): Promise<void> {
  await db('scrubs')
    .insert({ ...row, actor: JSON.stringify(row.actor) })
    .onConflict('id')
    .ignore();
}

export async function selectScrub(db: Db, id: string): Promise<ScrubRow | undefined> {
  return rowOf(await db('scrubs').where({ id }).first());
}

export interface ScrubFilter {
  status?: ScrubStatus;
  created_after?: Date;
  created_before?: Date;
}

/** Newest first (ids are UUID v7), `limit` rows from before `beforeId`. */
export async function listScrubRows(db: Db, q: { limit: number; beforeId?: string } & ScrubFilter): Promise<ScrubRow[]> {
  const query = db('scrubs').orderBy('id', 'desc').limit(q.limit);
  if (q.status) query.where({ status: q.status });
  if (q.created_after) query.where('created_at', '>=', new Date(q.created_after.getTime() + 1));
  if (q.created_before) query.where('created_at', '<', q.created_before);
  if (q.beforeId) query.where('id', '<', q.beforeId);
  return (await query).map((r: Record<string, unknown>) => rowOf(r)!);
}

export async function markScrubRunning(db: Db, id: string): Promise<void> {
  await db('scrubs').where({ id, status: 'pending' }).update({ status: 'running', started_at: db.fn.now() });
}

export interface ScrubFigures {
  phase: ScrubPhase;
  cursor: ScrubCursor;
  counts: FindingCounts;
  repaired: number;
  unrepairable: number;
  bytes_hashed: number;
  objects_listed: number;
}

function figuresOf(f: ScrubFigures) {
  return { ...f, cursor: JSON.stringify(f.cursor), counts: JSON.stringify(f.counts) };
}

/** Saves a running scrub's position and figures; an ended row is left as it is. */
export async function saveScrubFigures(db: Db, id: string, f: ScrubFigures): Promise<void> {
  await db('scrubs').where({ id, status: 'running' }).update(figuresOf(f));
}

/** Completes a running scrub; answers whether this call did (false: it had ended already). */
export async function markScrubCompleted(trx: Knex.Transaction, id: string, f: ScrubFigures): Promise<boolean> {
  const n = await trx('scrubs')
    .where({ id })
    .whereIn('status', ['pending', 'running'])
    .update({ ...figuresOf(f), status: 'completed', completed_at: trx.fn.now() });
  return n > 0;
}

export async function markScrubFailed(db: Db, id: string, error: string): Promise<void> {
  await db('scrubs').where({ id }).whereIn('status', ['pending', 'running']).update({ status: 'failed', error, completed_at: db.fn.now() });
}

/** Records a finding; false when this scrub had recorded it already (a retried step). */
export async function insertFinding(db: Db, scrubId: string, kind: string, subject: string, detail: string | null): Promise<boolean> {
  const rows = await db('scrub_findings')
    .insert({ scrub_id: scrubId, kind, subject, detail })
    .onConflict(['scrub_id', 'kind', 'subject'])
    .ignore()
    .returning('kind');
  return rows.length > 0;
}

/** `note` (where the bytes came from) is added to the finding's detail. */
export async function setFindingOutcome(
  db: Db,
  scrubId: string,
  kind: string,
  subject: string,
  outcome: 'repaired' | 'unrepairable',
  note?: string,
): Promise<void> {
  const detail = note === undefined ? undefined : db.raw(`concat_ws('; ', detail, ?::text)`, [note]);
  await db('scrub_findings')
    .where({ scrub_id: scrubId, kind, subject })
    .update({ outcome, ...(detail ? { detail } : {}) });
}

export interface FindingRow {
  kind: string;
  subject: string;
  outcome: 'repaired' | 'unrepairable' | null;
  detail: string | null;
  at: Date;
}

/** A scrub's findings in (kind, subject) order, after `after`, `limit` of them. */
export async function listFindingRows(
  db: Db,
  scrubId: string,
  q: { limit: number; kind?: string; after?: { kind: string; subject: string } },
): Promise<FindingRow[]> {
  const query = db('scrub_findings')
    .where({ scrub_id: scrubId })
    .orderBy([{ column: 'kind' }, { column: 'subject' }])
    .limit(q.limit);
  if (q.kind) query.where({ kind: q.kind });
  if (q.after) query.whereRaw('(kind, subject) > (?, ?)', [q.after.kind, q.after.subject]);
  return (await query.select('kind', 'subject', 'outcome', 'detail', 'at')) as FindingRow[];
}

/** A scrub's counts per kind, and how many it repaired and could not, from its findings. */
export async function findingTotals(db: Db, scrubId: string): Promise<{ counts: Record<string, number>; repaired: number; unrepairable: number }> {
  const rows: Array<{ kind: string; n: number; repaired: number; unrepairable: number }> = await db('scrub_findings')
    .where({ scrub_id: scrubId })
    .groupBy('kind')
    .select('kind')
    .select(db.raw('count(*)::int AS n'))
    .select(db.raw(`(count(*) FILTER (WHERE outcome = 'repaired'))::int AS repaired`))
    .select(db.raw(`(count(*) FILTER (WHERE outcome = 'unrepairable'))::int AS unrepairable`));
  return {
    counts: Object.fromEntries(rows.map((r) => [r.kind, r.n])),
    repaired: rows.reduce((a, r) => a + r.repaired, 0),
    unrepairable: rows.reduce((a, r) => a + r.unrepairable, 0),
  };
}

/** Scrubs ended before `before`, up to `limit` of them (table retention). */
export async function deleteEndedScrubsBefore(db: Knex, before: Date, limit: number): Promise<number> {
  return db('scrubs')
    .whereIn('id', db('scrubs').select('id').whereIn('status', ['completed', 'failed']).where('completed_at', '<', before).limit(limit))
    .delete();
}

/** Completed scrubs that acted (not dry runs): how many, and their findings summed (storage_scrub_findings_total). */
export async function sumScrubFindings(db: Knex): Promise<Array<{ kind: string; n: number }>> {
  const rows = await db.raw(
    `SELECT key AS kind, sum(value::bigint)::bigint AS n FROM scrubs, jsonb_each_text(counts)
      WHERE status = 'completed' AND NOT dry_run GROUP BY key`,
  );
  return rows.rows.map((r: { kind: string; n: string }) => ({ kind: r.kind, n: Number(r.n) }));
}

/** Seconds since the object read longest ago (or never read, since its version was made) was last verified: 0 without versions. */
export async function secondsSinceOldestVerification(db: Knex): Promise<number> {
  const rows = await db.raw(`SELECT extract(epoch FROM now() - min(coalesce(verified_at, created_at)))::float8 AS s FROM asset_versions`);
  return Number(rows.rows[0]?.s ?? 0);
}

/** How many completed scrubs acted (the sample's rotation of backup blobs counts them). */
export async function countCompletedScrubs(db: Knex): Promise<number> {
  const row = await db('scrubs').where({ status: 'completed', dry_run: false }).count<{ n: string }[]>('* as n');
  return Number(row[0].n);
}

// ---------------------------------------------------------------------------------------------
// The catalog, as the scrub reads it.

export interface ScrubVersion {
  id: string;
  asset_id: string;
  object_key: string;
  checksum_sha256: string;
  size_bytes: number;
  content_type: string | null;
  created_at: Date;
  verified_at: Date | null;
  damaged_at: Date | null;
  /** Claimed by a deletion: its own, or its asset's purge. */
  claimed: boolean;
  /** verified_at to the microsecond (the sample's keyset position): a Date keeps only milliseconds. */
  verified_at_text: string | null;
}

const VERSION_COLUMNS = [
  'v.id',
  'v.asset_id',
  'v.object_key',
  'v.checksum_sha256',
  'v.size_bytes',
  'v.content_type',
  'v.created_at',
  'v.verified_at',
  'v.damaged_at',
];

function versionOf(r: Record<string, unknown>): ScrubVersion {
  return { ...(r as unknown as ScrubVersion), size_bytes: Number(r.size_bytes), claimed: Boolean(r.claimed) };
}

function versionsQuery(db: Db) {
  return db('asset_versions as v')
    .join('assets as a', 'a.id', 'v.asset_id')
    .select(VERSION_COLUMNS)
    .select(db.raw('(v.deleting_since IS NOT NULL OR a.purging_since IS NOT NULL) AS claimed'))
    .select(db.raw('v.verified_at::text AS verified_at_text'));
}

/**
 * Versions whose object key sorts after `after` and at most `upTo` (none: no bound), in S3's byte
 * order (COLLATE "C"), `limit` of them.
 */
export async function versionsByKey(db: Db, after: string, upTo: string | null, limit: number): Promise<ScrubVersion[]> {
  const q = versionsQuery(db).whereRaw('v.object_key COLLATE "C" > ?', [after]);
  if (upTo !== null) q.whereRaw('v.object_key COLLATE "C" <= ?', [upTo]);
  return (await q.orderByRaw('v.object_key COLLATE "C"').limit(limit)).map(versionOf);
}

export async function versionsWithKey(db: Db, objectKey: string): Promise<ScrubVersion[]> {
  return (await versionsQuery(db).where('v.object_key', objectKey)).map(versionOf);
}

export async function versionById(db: Db, id: string): Promise<ScrubVersion | undefined> {
  const row = await versionsQuery(db).where('v.id', id).first();
  return row && versionOf(row);
}

/**
 * The sample's next versions: not verified since `since` (the scrub's start), oldest verification
 * first (never verified first of all), after the keyset position `after`.
 */
export async function versionsToVerify(db: Db, since: Date, after: { verifiedAt: string | null; id: string } | null, limit: number): Promise<ScrubVersion[]> {
  const q = versionsQuery(db).whereRaw(`coalesce(v.verified_at, '-infinity'::timestamptz) < ?`, [since]);
  if (after) {
    const at = after.verifiedAt ?? '-infinity';
    q.whereRaw(`(coalesce(v.verified_at, '-infinity'::timestamptz), v.id) > (?::timestamptz, ?::uuid)`, [at, after.id]);
  }
  return (await q.orderByRaw(`coalesce(v.verified_at, '-infinity'::timestamptz), v.id`).limit(limit)).map(versionOf);
}

export async function countVersions(db: Db): Promise<number> {
  const row = await db('asset_versions').count<{ n: string }[]>('* as n');
  return Number(row[0].n);
}

/** Live versions holding the content `sha256` (a repair's candidates), not claimed by a deletion. */
export async function versionsWithContent(db: Db, sha256: string, limit = 5): Promise<ScrubVersion[]> {
  return (await versionsQuery(db).where('v.checksum_sha256', sha256).whereNull('v.deleting_since').whereNull('a.purging_since').limit(limit)).map(versionOf);
}

/**
 * Its object hashed right: verified now, and no longer damaged (a repair whose attempt died after its
 * copy, before markVersionRepaired, left the right bytes under a damage mark: the sample clears it).
 */
export async function markVersionVerified(db: Db, id: string): Promise<void> {
  await db('asset_versions').where({ id }).update({ verified_at: db.fn.now(), damaged_at: null, damage: null });
}

/**
 * Whether the version's row is there and no deletion claims it (deleting_since, its asset's
 * purging_since): asked after a repair put its object back, under the key's lock. A deletion claims
 * before it removes objects, so a repair that finds no claim here leaves its object to that deletion.
 */
export async function versionUnclaimed(db: Db, id: string): Promise<boolean> {
  const row = await versionsQuery(db).where('v.id', id).first();
  return row !== undefined && !row.claimed;
}

/** The repair put the right bytes back: verified now, and no longer damaged. */
export async function markVersionRepaired(db: Db, id: string): Promise<void> {
  await db('asset_versions').where({ id }).update({ verified_at: db.fn.now(), damaged_at: null, damage: null });
}

/** Marks the version damaged unless it is already; answers whether this call did. */
export async function markVersionDamaged(trx: Knex.Transaction, id: string, damage: string): Promise<boolean> {
  const n = await trx('asset_versions').where({ id }).whereNull('damaged_at').update({ damaged_at: trx.fn.now(), damage });
  return n > 0;
}

/** The damage of the version whose object is at `objectKey`, when it is marked damaged (COLLATE "C": its index). */
export async function damageAtKey(db: Db, objectKey: string): Promise<{ id: string; asset_id: string; damaged_at: Date; damage: string | null } | undefined> {
  return db('asset_versions')
    .whereRaw('object_key COLLATE "C" = ?', [objectKey])
    .whereNotNull('damaged_at')
    .select('id', 'asset_id', 'damaged_at', 'damage')
    .first();
}

/** The object keys among `keys` that a version row names. */
export async function keysWithVersions(db: Db, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  return db('asset_versions').whereRaw('object_key COLLATE "C" = ANY(?::text[])', [keys]).distinct().pluck('object_key');
}

/** Retained backups (completed, not removed) with their manifest, oldest first, after `afterId`. */
export async function retainedBackups(
  db: Db,
  afterId: string | null,
  limit: number,
  onlyId?: string,
): Promise<Array<{ id: string; manifest_key: string; manifest_size_bytes: number; blobs_offset: number }>> {
  const q = db('backup_jobs')
    .where({ kind: 'backup', status: 'completed' })
    .whereNull('removed_at')
    .whereNotNull('manifest_key')
    .whereNotNull('blobs_offset')
    .orderBy('id')
    .limit(limit)
    .select('id', 'manifest_key', 'manifest_size_bytes', 'blobs_offset');
  if (afterId) q.where('id', '>', afterId);
  if (onlyId) q.where({ id: onlyId });
  return (await q).map((r: Record<string, unknown>) => ({
    id: r.id as string,
    manifest_key: r.manifest_key as string,
    manifest_size_bytes: Number(r.manifest_size_bytes),
    blobs_offset: Number(r.blobs_offset),
  }));
}
