/**
 * What a dry lifecycle run would remove, item by item (lifecycle_run_items, lib/lifecycle/store.ts):
 * recorded by its batches (insertRunItems), listed here for GET /api/v2/lifecycle/runs/{id}/items.
 */
import type { Knex } from 'knex';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { selectRunItems, type RunItemRow } from './store';

export interface RunItemJson {
  action: RunItemRow['action'];
  asset_id: string | null;
  version_id: string | null;
  upload_id: string | null;
  size_bytes: number | null;
}

function toItemJson(row: RunItemRow): RunItemJson {
  return {
    action: row.action,
    asset_id: row.asset_id,
    version_id: row.action === 'expire_version' ? row.item_id : null,
    upload_id: row.action === 'abort_upload' ? row.item_id : null,
    size_bytes: row.size_bytes === null ? null : Number(row.size_bytes),
  };
}

type ItemCursor = { s: string };

/** A dry run's items in the order it found them. */
export async function listRunItems(db: Knex, runId: string, q: { limit: number; cursor?: string }): Promise<Page<RunItemJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is ItemCursor => typeof p.s === 'string' && /^\d{1,18}$/.test(p.s));
  const rows = await selectRunItems(db, runId, cursor?.s ?? null, q.limit + 1);
  return pageOf(rows, q.limit, toItemJson, (row) => ({ s: String(row.seq) }));
}
