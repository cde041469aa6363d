/**
 * What the API shows of a restore to a point in time beside the fields every restore has: how many
 * assets came from each source, and asset by asset where its bytes came from (the first ITEMS_INLINE
 * inline, the rest a page at a time at /api/v2/restores/{id}/items).
 */
import type { Knex } from 'knex';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { UUID_PATTERN } from '../platform/ids';
import { pointInTimeItemPage, pointInTimeSourceCounts, type PointInTimeItemRow, type PointInTimeSource } from './store/pointInTime';
import type { RestoreJson } from './catalog';

export const ITEMS_INLINE = 100;

export interface PointInTimeItemJson {
  asset_id: string;
  /** restored (a new version written), planned (a dry run's: would be), skipped (unchanged, or skipped: see `reason`), failed. */
  status: PointInTimeItemRow['status'];
  /** null for an asset of a backup's restore. */
  source: PointInTimeSource | null;
  /** The version whose bytes the asset had at as_of: a kept one (source version), or the one a backup holds (source backup). */
  source_version_id: string | null;
  source_backup_id: string | null;
  /** The SHA-256 of the bytes the asset had at as_of: written (or, in a dry run, to be written), or already there. */
  sha256: string | null;
  /** The new version the restore made. */
  version_id: string | null;
  /** The asset was soft-deleted after as_of and is live again. */
  undeleted: boolean;
  /** Why it was skipped or failed. */
  reason: string | null;
}

export type PointInTimeDetail = Required<Pick<RestoreJson, 'as_of'>> & {
  sources: Record<PointInTimeSource, number>;
  items: PointInTimeItemJson[];
  /** The next page of items, when there are more than shown inline. */
  items_next: string | null;
};

export function toItemJson(row: PointInTimeItemRow): PointInTimeItemJson {
  return {
    asset_id: row.asset_id,
    status: row.status,
    source: row.source,
    source_version_id: row.source_version_id,
    source_backup_id: row.source_backup_id,
    sha256: row.sha256,
    version_id: row.version_id,
    undeleted: row.undeleted,
    reason: row.error,
  };
}

type ItemCursor = { asset_id: string };

/** A page of the restore's items, by asset id. */
export async function pointInTimeItems(db: Knex, restoreId: string, q: { limit: number; cursor?: string }): Promise<Page<PointInTimeItemJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is ItemCursor => typeof p.asset_id === 'string' && UUID_PATTERN.test(p.asset_id));
  const rows = await pointInTimeItemPage(db, restoreId, cursor?.asset_id ?? null, q.limit + 1);
  return pageOf(rows, q.limit, toItemJson, (row) => ({ asset_id: row.asset_id }));
}

/** The restore's JSON with its sources and first items. */
export async function withPointInTimeDetail(db: Knex, json: RestoreJson): Promise<RestoreJson & Partial<PointInTimeDetail>> {
  const counts = await pointInTimeSourceCounts(db, json.id);
  const sources = { version: 0, backup: 0, unchanged: 0, skipped: 0 };
  for (const { source, n } of counts) if (source) sources[source] = n;
  const page = await pointInTimeItems(db, json.id, { limit: ITEMS_INLINE });
  const next = page.next_cursor === null ? null : `/api/v2/restores/${json.id}/items?cursor=${encodeURIComponent(page.next_cursor)}`;
  return { ...json, sources, items: page.items, items_next: next };
}
