#!/usr/bin/env node
// `storage`: the CLI compiled to one file (dist/storage.js, by `npm run build:cli`, which npm's
// prepare runs on `npm install -g .`, `npm link` and `npm ci`), when it was built from the sources
// as they are now; else their TypeScript through tsx, so a fresh clone or an edited source needs no
// build step, only a slower start.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** The build's metafile names the sources it read: one edited since (or gone) makes it stale. The build puts the file in place with a rename, so it is never read half-written. */
function compiledIsCurrent() {
  try {
    const built = fs.statSync(path.join(root, 'dist', 'storage.js')).mtimeMs;
    const { inputs } = JSON.parse(fs.readFileSync(path.join(root, 'dist', 'storage.meta.json'), 'utf8'));
    return Object.keys(inputs).every((input) => fs.statSync(path.join(root, input)).mtimeMs <= built);
  } catch {
    return false;
  }
}

if (compiledIsCurrent()) {
  require('../dist/storage.js');
} else {
  require('tsx/cjs/api').register();
  require('./main.ts');
}
