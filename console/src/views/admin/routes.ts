import type { ViewRoute } from '../viewRoute';

/** The admin's views: backups, lifecycle, scrubs, restore drills, the audit log, quotas. */
export const ADMIN_VIEWS: ViewRoute[] = [];
