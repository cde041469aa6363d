import type { ViewRoute } from '../viewRoute';
import { AuditView } from './AuditView';
import { BackupsView } from './BackupsView';
import { BackupView } from './BackupView';
import { DrillsView } from './DrillsView';
import { LifecycleView } from './LifecycleView';
import { QuotasView } from './QuotasView';
import { ScrubsView } from './ScrubsView';

/** The admin's views: backups, lifecycle, scrubs, restore drills, the audit log, quotas. */
export const ADMIN_VIEWS: ViewRoute[] = [
  { path: '/admin/backups', view: BackupsView, nav: 'Backups', admin: true, title: 'Backups' },
  { path: '/admin/backups/:id', view: BackupView, admin: true, title: 'Backup' },
  { path: '/admin/lifecycle', view: LifecycleView, nav: 'Lifecycle', admin: true, title: 'Lifecycle' },
  { path: '/admin/scrubs', view: ScrubsView, nav: 'Scrubs', admin: true, title: 'Scrubs' },
  { path: '/admin/drills', view: DrillsView, nav: 'Restore drills', admin: true, title: 'Restore drills' },
  { path: '/admin/audit', view: AuditView, nav: 'Audit log', admin: true, title: 'Audit log' },
  { path: '/admin/quotas', view: QuotasView, nav: 'Quotas', admin: true, title: 'Quotas' },
];
