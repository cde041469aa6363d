/**
 * Builds the web console (console/src) into dist/console: one script, one stylesheet, minified, that
 * api/routes/console.ts serves under /console/static. npm's prepare (install), scripts/bootstrap.sh
 * (npm start, npm test) and the Dockerfile run it; it writes into a new folder and renames it into
 * place, so an API serving the console never reads a half-written bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
export const CONSOLE_ENTRY = path.join(ROOT, 'console', 'src', 'main.tsx');
export const CONSOLE_DIST = path.join(ROOT, 'dist', 'console');

export async function buildConsole(outdir = CONSOLE_DIST): Promise<void> {
  const next = `${outdir}.next-${process.pid}`;
  fs.rmSync(next, { recursive: true, force: true });
  const result = await build({
    entryPoints: { app: CONSOLE_ENTRY },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: next,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const old = `${outdir}.old-${process.pid}`;
  if (fs.existsSync(outdir)) fs.renameSync(outdir, old);
  fs.renameSync(next, outdir);
  fs.rmSync(old, { recursive: true, force: true });
  // What went into the bundle, and how large each part is (BENCHMARKS.md): beside the folder, so it is not served.
  fs.writeFileSync(`${outdir}.meta.json`, JSON.stringify(result.metafile));
}

if (require.main === module) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`build:console failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
