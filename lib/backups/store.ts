/**
 * The store of backups and restores: the only code that runs SQL against backup_jobs, restore_items, backup_handoffs, backup_retention_sweeps, backup_sweep_manifests and backup_sweep_marks.
 */
export {};
