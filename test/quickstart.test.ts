/**
 * The README's quick start works as written (issue 29). `npm start` of this checkout runs
 * (scripts/dev.ts, through test/support/devStack.ts: ports, a database and a data folder of its own,
 * so a development secret of its own too); then every `sh` block of the README's "Quick start" and
 * "The `storage` command" sections but `npm start` itself, and the history block of
 * docs/operations.md, run in order in one `bash -e` in the checkout (a variable one block sets is
 * there in the next). The token line must be the one the banner prints. The one change to the text:
 * npm start's addresses become this stack's (the `storage` command gets it as STORAGE_API_URL).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../scripts/stack';
import { startDevStack, type DevStack } from './support/devStack';
import { waitUntil } from './support/processes';

/** The `sh` blocks of a Markdown file's `## <title>` section, each as its text. */
function shBlocksOf(file: string, title: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const sections = text.split(/^## /m);
  const section = sections.find((s) => s.startsWith(`${title}\n`));
  if (!section) throw new Error(`${file} has no section "## ${title}"`);
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** Runs `script` with `bash -e` in the checkout, its process group killed after `timeoutMs`. */
function runShell(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => {
    output += `\n(killed after ${timeoutMs} ms)`;
    process.kill(-child.pid!, 'SIGKILL');
  }, timeoutMs);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

let stack: DevStack | undefined;
let cacheHome: string | undefined;
afterAll(async () => {
  await stack?.stop();
  if (cacheHome) fs.rmSync(cacheHome, { recursive: true, force: true });
}, 120_000);

it("runs the README's quick start and the tour of the storage command as written, each command succeeding, with the token line the banner prints", async () => {
  const [start, token, ...quickStart] = shBlocksOf('README.md', 'Quick start');
  expect(start.trim()).toBe('npm start');
  const tokenLine = token.trim();
  expect(tokenLine).toMatch(/^export TOKEN=\$\(npm run -s token -- .+\)$/);
  const blocks = [
    token,
    ...quickStart,
    ...shBlocksOf('README.md', 'The `storage` command'),
    ...shBlocksOf('docs/operations.md', 'Where each kind of history lives'),
  ];

  stack = await startDevStack();
  const { child, output } = stack;
  await waitUntil(
    'npm start to be ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${output().slice(-5000)}`);
      return /^\[start\] A worker or an API that dies/m.test(output());
    },
    300_000,
    250,
  );
  // The banner tells a newcomer how to get a token in exactly the words the README uses.
  expect(output().split('\n')).toContain(`[start] token         ${tokenLine}`);

  const api = `http://127.0.0.1:${stack.ports.api}`;
  const script = blocks.join('\n').replaceAll('http://127.0.0.1:8005', api).replaceAll('127.0.0.1:7233', `127.0.0.1:${stack.ports.temporal}`);
  cacheHome = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
  const { code, output: shell } = await runShell(`PS4='+ '; set -x\n${script}`, { ...stack.env, STORAGE_API_URL: api, XDG_CACHE_HOME: cacheHome }, 300_000);
  if (code !== 0) throw new Error(`the quick start failed (exit ${code}):\n${shell.slice(-8000)}`);
  // The history block found the portrait's upload run in Temporal, and its upload in the audit log.
  expect(shell).toMatch(/uploadWorkflow/);
  expect(shell).toMatch(/"action": ?"asset\.upload"/);
}, 900_000);
