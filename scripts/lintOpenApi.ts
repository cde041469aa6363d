/**
 * Lints the served OpenAPI document with Spectral and the ruleset of .spectral.yaml: the document as
 * buildOpenApiDocument makes it under the default configuration, and with every option that adds to it
 * (rate limits, /metrics for admins). `npm run lint:openapi`; part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildOpenApiDocument, documentLimitsOf } from '../api/openapi';
import { loadConfig } from '../lib/platform/config';

const root = path.resolve(__dirname, '..');
const spectral = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'spectral.cmd' : 'spectral');
const served = documentLimitsOf(loadConfig());
const variants = {
  served,
  'every option': { ...served, rateLimits: true, metricsAccess: 'admin' as const },
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-lint-'));
let failed = false;
try {
  for (const [name, limits] of Object.entries(variants)) {
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(buildOpenApiDocument(limits), null, 2));
    console.log(`spectral: the document, ${name}`);
    const run = spawnSync(spectral, ['lint', '--ruleset', path.join(root, '.spectral.yaml'), '--fail-severity', 'error', file], { stdio: 'inherit' });
    if (run.error) throw run.error;
    if (run.status !== 0) failed = true;
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
