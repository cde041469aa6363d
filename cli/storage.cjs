#!/usr/bin/env node
// `npx storage`: runs the TypeScript of cli/ through tsx (a dependency of the repository), so a fresh
// clone needs no build step.
require('tsx/cjs/api').register();
require('./main.ts');
