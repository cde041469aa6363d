/**
 * The shapes of the catalog's asset and version rows, as lib/assets/store.ts reads them: types only, so
 * that the store and the domain code that uses it (assets.ts, versions.ts) share them without importing each other.
 */
import type { Grant } from './grants';

export interface AssetRow {
  id: string;
  name: string;
  content_type: string;
  size_bytes: number;
  checksum_sha256: string | null;
  current_version_id: string | null;
  version_count: number;
  last_version_number: number;
  revision: number;
  tags: string[];
  metadata: Record<string, string>;
  /** The user it belongs to (`system` for assets made before owners existed). */
  owner_id: string;
  grants: Grant[];
  is_deleted: boolean;
  deleted_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type AssetSort = 'created_at' | '-created_at' | 'name';

export interface AssetListQuery {
  limit: number;
  cursor?: string;
  name_prefix?: string;
  content_type?: string;
  tag?: string[];
  created_after?: Date;
  created_before?: Date;
  include_deleted?: boolean;
  /** The trash: soft-deleted assets only. */
  only_deleted?: boolean;
  /** Those of this owner (among those the caller may read). */
  owner_id?: string;
  sort: AssetSort;
}

export interface VersionRow {
  id: string;
  asset_id: string;
  version_number: number;
  object_key: string;
  size_bytes: number;
  content_type: string;
  checksum_sha256: string;
  upload_id: string | null;
  /** Who uploaded it (the sub of the caller whose upload made it); null: not known (made before this was recorded). */
  uploaded_by: string | null;
  created_at: Date;
  superseded_at: Date | null;
}
