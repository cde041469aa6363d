/**
 * The web console (console/src, built into dist/console by scripts/buildConsole.ts). GET /console is its
 * page; every other path under /console is the same page (the console routes in the browser, so a
 * reload or a shared link of /console/assets/<id> works), but /console/static/, its script and styles.
 * The page runs no inline script (CSP `script-src 'self'`) and reads its settings from a meta element.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { Router, type Response } from 'express';
import type { Config } from '../../lib/platform/config';
import { ServiceUnavailableError } from '../../lib/platform/errors';
import type { ConsoleSettings } from '../http/consoleSettings';
import { defineRoute } from '../http/route';

// Run from its sources this file is in api/routes/, compiled (the image) in dist/api/routes/: the bundle is dist/console either way.
const root = path.resolve(__dirname, '..', '..');
const CONSOLE_DIST = path.join(path.basename(root) === 'dist' ? root : path.join(root, 'dist'), 'console');

/** What the page may load: its own script, styles and the API's content (signed URLs, blob previews). */
function policyOf(config: Pick<Config, 'cors'>): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "frame-src 'self' blob:",
    "object-src 'none'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    // An application the API already trusts (STORAGE_CORS_ORIGINS) may embed it and hand it a token.
    `frame-ancestors ${["'self'", ...config.cors.origins].join(' ')}`,
  ].join('; ');
}

const escapeAttribute = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

type PageConfig = Pick<Config, 'environment' | 'console' | 'cors' | 'auth' | 'temporal'>;

function pageOf(config: PageConfig): string {
  const settings: ConsoleSettings = {
    environment: config.environment,
    temporalUiUrl: config.console.temporalUiUrl,
    temporalNamespace: config.temporal.namespace,
    embeddingOrigins: config.cors.origins,
    rolesClaim: config.auth.rolesClaim,
    groupsClaim: config.auth.groupsClaim,
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Storage console</title>
<meta name="storage-console" content="${escapeAttribute(JSON.stringify(settings))}">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/app.css">
<script type="module" src="/console/static/app.js"></script>
</head>
<body><noscript>The storage console needs JavaScript.</noscript><div id="console"></div></body>
</html>`;
}

function sendPage(config: PageConfig, res: Response): void {
  if (!fs.existsSync(path.join(CONSOLE_DIST, 'app.js'))) {
    throw new ServiceUnavailableError('the console is not built: run `npm run build:console`', 3600);
  }
  res
    .setHeader('Content-Security-Policy', policyOf(config))
    .setHeader('Referrer-Policy', 'no-referrer')
    .setHeader('X-Content-Type-Options', 'nosniff')
    .setHeader('Cache-Control', 'no-cache')
    .type('html')
    .send(pageOf(config));
}

const consolePage = defineRoute(
  {
    method: 'get',
    path: '/console',
    access: 'anyone',
    tag: 'operations',
    summary: 'The web console',
    description:
      'A page for people: browse, preview, upload and share assets, and for admins the backups, lifecycle runs, scrubs, drills, audit log and quotas. It signs in with a bearer token kept in the tab (session storage); every path under /console is the same page.',
    responses: { 200: { description: 'HTML', content: 'text/html' } },
  },
  (deps) => (_req, res) => sendPage(deps.config, res),
);

export const CONSOLE_ROUTES = [consolePage];

/** The console's script and styles, and its in-browser paths, as public as its page (api/middleware/routeAccess.ts). */
export function consoleAssets(config: PageConfig): Router {
  const router = Router();
  // Revalidated on every load (the names carry no hash), so a new build is never mixed with an old one.
  const noCache = (res: Response) => res.setHeader('Cache-Control', 'no-cache');
  router.use('/console/static', express.static(CONSOLE_DIST, { index: false, fallthrough: false, cacheControl: false, setHeaders: noCache }));
  router.get('/console/{*path}', (_req, res) => sendPage(config, res));
  return router;
}
