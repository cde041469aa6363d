/**
 * The store of quotas and usage: the only code that runs SQL against owner_quotas and owner_usage.
 */
export {};

// ---- used by backups (moved from lib/backups/records.ts) ----

/** A backup's record lines of quota overrides (read through a cursor in the manifest's snapshot). */
export const OWNER_QUOTA_RECORDS_SQL = 'SELECT to_jsonb(q) AS row FROM owner_quotas q ORDER BY q.owner_id';
