/** What a lifecycle policy says: which assets it applies to, and the rules it applies to them. */

/** Which assets a policy applies to; every given part must match, and an empty filter matches every asset. */
export interface PolicyFilter {
  name_prefix?: string;
  /** Exact, or `type/*`. */
  content_type?: string;
  /** All must be on the asset. */
  tags?: string[];
}

export type PolicyRule =
  | { action: 'expire_noncurrent_versions'; noncurrent_days: number; keep_latest?: number }
  | { action: 'expire_assets'; days: number }
  | { action: 'purge_deleted'; days: number }
  | { action: 'abort_incomplete_uploads'; days: number };

export type PolicyAction = PolicyRule['action'];
