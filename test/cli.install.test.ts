/**
 * The CLI as an installed tool: `npm install -g .` and `npm link` run the package's prepare, which
 * compiles the CLI (npm run build:cli) to dist/storage.js, and link `storage` on the PATH to
 * cli/storage.cjs. These cases build it, run `storage --help` through such a link from another
 * folder, and say which code answered: the compiled file, or (when the build is older than the
 * sources) the TypeScript through tsx. No case measures time: the README's numbers come from runs.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { STORAGE_BIN } from './support/cli';

const ROOT = path.join(__dirname, '..');
const COMPILED = path.join(ROOT, 'dist', 'storage.js');
const run = promisify(execFile);
let home: string;

jest.setTimeout(120_000);

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-install-'));
  // What npm's bin link is: <prefix>/bin/storage, a link to the package's bin.
  fs.mkdirSync(path.join(home, 'bin'));
  fs.symlinkSync(STORAGE_BIN, path.join(home, 'bin', 'storage'));
  await run('npm', ['run', '-s', 'build:cli'], { cwd: ROOT });
});

/** `storage --help` from the PATH, in a folder outside the repository; answers its output and the files of the repository it loaded. */
function helpFromPath(): Promise<{ code: number | null; stdout: string; loaded: string[] }> {
  const record = path.join(home, `loaded-${Date.now()}.json`);
  const hook = path.join(home, 'hook.js');
  fs.writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(record)}, JSON.stringify(Object.keys(require.cache))));`);
  const child = spawn('storage', ['--help'], {
    cwd: home,
    env: { ...process.env, PATH: `${path.join(home, 'bin')}${path.delimiter}${process.env.PATH}`, NODE_OPTIONS: `--require ${hook}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const loaded = (JSON.parse(fs.readFileSync(record, 'utf8')) as string[]).map((f) => path.relative(ROOT, fs.realpathSync(f)));
      resolve({ code, stdout, loaded });
    });
  });
}

test('storage on the PATH answers --help from the compiled file, without loading tsx or the TypeScript', async () => {
  const help = await helpFromPath();
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^Usage: storage /);
  expect(help.stdout).toMatch(/^ {2}sync /m);
  expect(help.loaded).toContain(path.join('dist', 'storage.js'));
  expect(help.loaded.filter((f) => f.endsWith('.ts') || f.includes(`${path.sep}tsx${path.sep}`))).toEqual([]);
});

test('a build older than the sources is passed over: storage runs the TypeScript through tsx, with the same answer', async () => {
  const built = fs.statSync(COMPILED).mtime;
  fs.utimesSync(COMPILED, new Date(0), new Date(0));
  try {
    const help = await helpFromPath();
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: storage /);
    expect(help.loaded).not.toContain(path.join('dist', 'storage.js'));
    expect(help.loaded).toContain(path.join('cli', 'main.ts'));
  } finally {
    fs.utimesSync(COMPILED, built, built);
  }
});

test("prepare skips the build where there are no sources (the image's npm ci, before they are copied in), and does not fail", async () => {
  const image = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-image-'));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(image, 'package.json'));
  await run('npm', ['run', '-s', 'prepare'], { cwd: image });
  expect(fs.existsSync(path.join(image, 'dist'))).toBe(false);
});
