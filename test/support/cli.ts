/**
 * The `storage` command as a user runs it: the real bin (cli/storage.cjs) in a child process,
 * pointed at a test service with STORAGE_API_URL and STORAGE_TOKEN, its cache in a folder of the
 * test's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const STORAGE_BIN = path.join(__dirname, '..', '..', 'cli', 'storage.cjs');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as the bytes it was, for `download -o -`. */
  stdoutBytes: Buffer;
  stderr: string;
  /** stdout parsed, for --json runs. */
  json(): any;
}

export interface CliEnv {
  api: string;
  token?: string;
  cache: string;
}

export function cliEnv(api: string, token?: string): CliEnv {
  return { api, token, cache: fs.mkdtempSync(path.join(os.tmpdir(), 'storage-cli-cache-')) };
}

export function envOf(env: CliEnv): NodeJS.ProcessEnv {
  const { STORAGE_TOKEN: _t, STORAGE_API_URL: _a, ...rest } = process.env;
  return { ...rest, STORAGE_API_URL: env.api, ...(env.token ? { STORAGE_TOKEN: env.token } : {}), XDG_CACHE_HOME: env.cache };
}

/** Starts `storage <args>`; `done` settles when it exits. */
export function startCli(env: CliEnv, args: string[], cwd?: string): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [STORAGE_BIN, ...args], { env: envOf(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stderr!.on('data', (c) => (stderr += c));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stdoutBytes = Buffer.concat(chunks);
      const stdout = stdoutBytes.toString('utf8');
      resolve({ code, signal, stdout, stdoutBytes, stderr, json: () => JSON.parse(stdout) });
    });
  });
  return { child, done };
}

export function storage(env: CliEnv, args: string[], cwd?: string): Promise<CliRun> {
  return startCli(env, args, cwd).done;
}
