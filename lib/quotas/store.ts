/**
 * The store of quotas and usage: the only code that runs SQL against owner_quotas and owner_usage.
 */
export {};
