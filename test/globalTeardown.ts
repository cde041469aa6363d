import fs from 'node:fs';
import { dropDatabase } from '../lib/platform/db';

export default async function globalTeardown() {
  for (const server of (globalThis.__storageTestServers ?? []).reverse()) await server.stop();
  if (globalThis.__storageTestDatabaseUrl) await dropDatabase(globalThis.__storageTestDatabaseUrl);
  const runDir = process.env.STORAGE_TEST_RUN_DIR;
  if (runDir && !process.env.STORAGE_TEST_KEEP_DATA) fs.rmSync(runDir, { recursive: true, force: true });
}
