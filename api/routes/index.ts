/**
 * Every route the API serves, each declared once in the file of its resource (api/http/route.ts):
 * the router, the OpenAPI document, the access rules, 405s, CORS and the audit trail read this list.
 */
import { isProtocolMethod, type Route } from '../http/route';
import { ASSET_ROUTES } from './assets';
import { AUDIT_ROUTES } from './audit';
import { BACKUP_ROUTES } from './backups';
import { CONSOLE_ROUTES } from './console';
import { DRILL_ROUTES } from './drills';
import { EVENT_ROUTES } from './events';
import { HEALTH_ROUTES } from './health';
import { LIFECYCLE_ROUTES } from './lifecycle';
import { METRICS_ROUTES } from './metrics';
import { OPERATION_ROUTES } from './operations';
import { POLICY_ROUTES } from './policies';
import { QUOTA_ROUTES } from './quotas';
import { PROBLEM_ROUTES } from './problems';
import { REFERENCE_ROUTES } from './reference';
import { RESTORE_ROUTES } from './restores';
import { SCRUB_ROUTES } from './scrubs';
import { SIGNED_URL_ROUTES } from './signedUrls';
import { TUS_ROUTES } from './tus';
import { UPLOAD_ROUTES } from './uploads';
import { VERSION_ROUTES } from './versions';

export const OPERATIONS: Route[] = [
  ...HEALTH_ROUTES,
  ...METRICS_ROUTES,
  ...REFERENCE_ROUTES,
  ...CONSOLE_ROUTES,
  ...PROBLEM_ROUTES,
  ...ASSET_ROUTES,
  ...VERSION_ROUTES,
  ...UPLOAD_ROUTES,
  ...EVENT_ROUTES,
  ...SIGNED_URL_ROUTES,
  ...BACKUP_ROUTES,
  ...DRILL_ROUTES,
  ...RESTORE_ROUTES,
  ...SCRUB_ROUTES,
  ...POLICY_ROUTES,
  ...LIFECYCLE_ROUTES,
  ...TUS_ROUTES,
  ...QUOTA_ROUTES,
  ...AUDIT_ROUTES,
  ...OPERATION_ROUTES,
];

/**
 * The routes a client calls by their own method: every operation but the HEAD and OPTIONS that tus
 * declares, which every other path answers too (HEAD wherever GET is, OPTIONS wherever a path is known).
 */
export const ROUTES: Route[] = OPERATIONS.filter((route) => !isProtocolMethod(route.method));
