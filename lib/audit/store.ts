/**
 * The store of the audit log: the only code that runs SQL against audit_log and audit_retention.
 */
export {};
