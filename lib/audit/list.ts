import type { Knex } from 'knex';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { SUBJECT_COLUMNS, type AuditSubjects } from './log';
import { selectAuditPage, type AuditFilter } from './store';

export interface AuditQuery extends AuditFilter {
  limit: number;
  cursor?: string;
}

interface AuditRow {
  id: number;
  cursor_at: string;
  actor: string | null;
  actor_roles: string[];
  action: string;
  outcome: string;
  count: number;
  request_id: string | null;
  request_ids: string[] | null;
  client_address: string | null;
  user_agent: string | null;
  [subject: string]: unknown;
}

export interface AuditJson {
  id: string;
  at: string;
  actor: { sub: string; roles: string[] } | null;
  action: string;
  subjects: AuditSubjects;
  outcome: string;
  count: number;
  request_id: string | null;
  /** The requests the row stands for: its own, or a folded row's first (lib/audit/log.ts, FOLDED_REQUEST_IDS). */
  request_ids: string[];
  client_address: string | null;
  user_agent: string | null;
}

function toAuditJson(row: AuditRow): AuditJson {
  const subjects = Object.fromEntries(SUBJECT_COLUMNS.filter((c) => row[c] !== null).map((c) => [c, row[c] as string]));
  return {
    id: String(row.id),
    at: row.cursor_at,
    actor: row.actor === null ? null : { sub: row.actor, roles: row.actor_roles },
    action: row.action,
    subjects,
    outcome: row.outcome,
    count: row.count,
    request_id: row.request_id,
    request_ids: row.request_ids ?? (row.request_id === null ? [] : [row.request_id]),
    client_address: row.client_address,
    user_agent: row.user_agent,
  };
}

type AuditCursor = { at: string; id: number };

const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * GET /audit: newest first, by (at, id), under a keyset cursor. Each filter has its index
 * (migrations/20261201000008_audit_log.ts); the subject is looked up in the row's ids at once, and
 * a request id in its own or a folded row's (the expression of audit_log_request_ids_idx).
 */
export async function listAudit(db: Knex, q: AuditQuery): Promise<Page<AuditJson>> {
  const cursor = decodeCursor(
    q.cursor,
    (p): p is AuditCursor => typeof p.at === 'string' && CURSOR_TIME.test(p.at) && Number.isSafeInteger(p.id) && (p.id as number) > 0,
  );
  const rows = await selectAuditPage<AuditRow>(db, q, cursor);
  return pageOf(rows, q.limit, toAuditJson, (row) => ({ at: row.cursor_at, id: row.id }));
}
