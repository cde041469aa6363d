/**
 * The store of lifecycle policies and runs: the only code that runs SQL against lifecycle_policies, policy_rules and lifecycle_runs.
 */
export {};
