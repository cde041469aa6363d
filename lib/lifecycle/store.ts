/**
 * The store of lifecycle policies and runs: the only code that runs SQL against lifecycle_policies, policy_rules and lifecycle_runs.
 */
export {};

// ---- used by backups (moved from lib/backups/records.ts) ----

/** A backup's record lines of lifecycle policies: every column of each, with its rules (read through a cursor in the manifest's snapshot). */
export const LIFECYCLE_POLICY_RECORDS_SQL = `SELECT to_jsonb(p) || jsonb_build_object('rules',
      (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.position), '[]'::jsonb) FROM policy_rules r WHERE r.policy_id = p.id)) AS row
    FROM lifecycle_policies p ORDER BY p.id`;
