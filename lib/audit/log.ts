/**
 * The audit log (docs/security.md, "Audit log"): one row per change, per admin or service read of someone
 * else's content, and per workflow commit; refusals, of reads too, folded to a count per minute. Rows
 * are only ever added (triggers refuse every other update, and every DELETE but retention's).
 */
import type { Knex } from 'knex';
import { SYSTEM_ACTOR_REF, type ActorRef } from '../../workflows/shared/actor';
import { findAssetOwner } from '../assets/store';
import { insertAuditRows, pruneAuditBatch, upsertFoldedRefusal } from './store';

export const SUBJECT_COLUMNS = ['asset_id', 'version_id', 'upload_id', 'policy_id', 'backup_id', 'restore_id'] as const;
export type SubjectColumn = (typeof SUBJECT_COLUMNS)[number];
export type AuditSubjects = Partial<Record<SubjectColumn, string>>;

export interface AuditEntry {
  /** null: the request had no verified token. */
  actor: ActorRef | null;
  /** `<thing>.<operation>`, such as `asset.delete`. */
  action: string;
  /** An HTTP status, or a workflow's result. */
  outcome: string;
  subjects?: AuditSubjects;
  requestId?: string;
  clientAddress?: string;
  userAgent?: string;
  /** When it happened, if not when the row is written (a folded refusal's row comes a moment later). */
  at?: Date;
}

/**
 * What a change writes in its own transaction: the request (or run) behind it is known to the trail,
 * the change adds the ids it made or touched.
 */
export interface AuditTrail {
  record(trx: Knex.Transaction, subjects?: AuditSubjects): Promise<void>;
}

// A client's own header is stored as sent, to this length: a row's size stays bounded.
const USER_AGENT_CHARS = 512;

function rowOf(entry: AuditEntry) {
  const subjects = Object.fromEntries(SUBJECT_COLUMNS.map((column) => [column, entry.subjects?.[column] ?? null]));
  return {
    actor: entry.actor?.sub ?? null,
    actor_roles: entry.actor?.roles ?? [],
    action: entry.action,
    outcome: entry.outcome,
    ...subjects,
    request_id: entry.requestId ?? null,
    client_address: entry.clientAddress ?? null,
    user_agent: entry.userAgent?.slice(0, USER_AGENT_CHARS) ?? null,
    ...(entry.at ? { at: entry.at } : {}),
  };
}

export async function writeAudit(db: Knex | Knex.Transaction, entries: AuditEntry | AuditEntry[]): Promise<void> {
  const rows = (Array.isArray(entries) ? entries : [entries]).map(rowOf);
  if (rows.length) await insertAuditRows(db, rows);
}

/**
 * Repeated refusals share one row per minute, actor (the client address when there is no token),
 * action and outcome: `count` grows, and `request_ids` names the first FOLDED_REQUEST_IDS requests
 * (migrations/20261206000013_audit_kept_and_app_role.ts). The row keeps the time, subjects and user
 * agent of the minute's first refusal.
 */
export function foldKeyOf(entry: AuditEntry, now: number): string {
  const minute = new Date(Math.floor(now / 60_000) * 60_000).toISOString();
  const who = entry.actor ? `sub:${entry.actor.sub}` : `client:${entry.clientAddress ?? ''}`;
  return [minute, who, entry.action, entry.outcome].join('|');
}

/** Request ids a folded row keeps: enough to find the requests of a burst, a bounded row whatever its count. */
export const FOLDED_REQUEST_IDS = 100;

export async function foldRefusals(db: Knex, foldKey: string, entry: AuditEntry, count: number, requestIds: string[]): Promise<void> {
  const row = { ...rowOf(entry), fold_key: foldKey, count, request_ids: requestIds.slice(0, FOLDED_REQUEST_IDS) };
  await upsertFoldedRefusal(db, row, count, FOLDED_REQUEST_IDS);
}

/** A read of an asset's content by an admin or a service gets a row when the asset is not theirs. */
export async function writeReadOfOthersContent(db: Knex, entry: AuditEntry & { actor: ActorRef }, assetId: string): Promise<void> {
  const asset = await findAssetOwner(db, assetId);
  if (asset && asset.owner_id !== entry.actor.sub) await writeAudit(db, entry);
}

const PRUNE_BATCH = 5000;

/**
 * Retention: removes rows older than the database's retention (audit_retention, which setup writes), a
 * batch a statement, until none is left or `deadline` passes. The function is the only way rows leave
 * the table: the service's role may not DELETE from it.
 */
export async function pruneAuditLog(db: Knex, deadline: number): Promise<number> {
  let removed = 0;
  for (;;) {
    const batch = await pruneAuditBatch(db, PRUNE_BATCH);
    removed += batch;
    if (batch < PRUNE_BATCH || Date.now() >= deadline) return removed;
  }
}

/** How a workflow's commit writes its row: not at all while STORAGE_AUDIT_LOG is off. */
export type AuditWriter = (trx: Knex.Transaction, entries: AuditEntry | AuditEntry[]) => Promise<void>;

/** Whom a run's commit acts for, as its row recorded it: the system for rows made before rows recorded it. */
export const runActorOf = (row: { actor?: ActorRef | null }): ActorRef => row.actor ?? SYSTEM_ACTOR_REF;

export const auditWriterOf = (enabled: boolean): AuditWriter => (enabled ? writeAudit : async () => {});

/** For changes no request or run makes (the bench's seeding), and for every change while STORAGE_AUDIT_LOG is off. */
export const NO_AUDIT: AuditTrail = { record: async () => {} };
