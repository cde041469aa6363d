/**
 * Two `storage` runs on one target at once, on the real bin, each interleaving made on purpose: the
 * first is held mid-transfer (a held proxy, or the process stopped with SIGSTOP) until the second has run.
 * - Two downloads of one file: the second must not write into the first's part (its bytes would land in
 *   the file once the other published it).
 * - Two syncs of one folder: the second must not plan the first's new files as new too (two assets of
 *   one name, which every later sync refuses).
 * - Two chunked uploads of one file: the second must not resume the first's session under it.
 * - A run killed mid-transfer leaves its lock: the next run takes it over.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unwrap } from '../client';
import { apiClient } from './support/api';
import { bytesOf, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { cliEnv, startCli, storage, type CliEnv } from './support/cli';
import { useTestService } from './support/context';
import { waitUntil } from './support/processes';
import { startTcpProxy } from './support/tcpProxy';
import { uuidv7 } from '../lib/platform/ids';

const MIB = 1024 * 1024;
const ctx = useTestService();
let env: CliEnv;
let token: string;

jest.setTimeout(180_000);

beforeAll(async () => {
  token = await tokenFor({ sub: `races-${uuidv7()}` });
  env = cliEnv(ctx.baseUrl, token);
});

function folder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'storage-cli-races-'));
}

/**
 * Runs `during` with `child` stopped (SIGSTOP) and continues it after: a pause point for a process,
 * so what runs in between needs no time window of the first's (a stopped process is alive, and holds its lock).
 */
async function whileStopped<T>(child: ChildProcess, during: () => Promise<T>): Promise<T> {
  child.kill('SIGSTOP');
  try {
    return await during();
  } finally {
    child.kill('SIGCONT');
  }
}

test('a download of a file another download of it is writing is refused (exit 1): the file the first publishes is its bytes alone', async () => {
  const bytes = bytesOf(8 * MIB);
  const source = path.join(folder(), 'source.bin');
  fs.writeFileSync(source, bytes);
  const up = await storage(env, ['upload', source, '--name', 'atlas.bin', '--json']);
  expect({ code: up.code, stderr: up.stderr }).toEqual({ code: 0, stderr: '' });
  const id: string = up.json().asset.id;

  const cwd = folder();
  const part = path.join(cwd, 'atlas.bin.part');
  const proxy = await startTcpProxy(Number(new URL(ctx.baseUrl).port));
  try {
    // The first is held once it has received 1 MiB, and gets no more until the second has run.
    proxy.holdAfter(MIB);
    const first = startCli({ ...env, api: `http://127.0.0.1:${proxy.port}` }, ['download', id], cwd);
    await waitUntil('the first download writing its part', async () => (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 0);
    const second = await storage(env, ['download', id], cwd);
    proxy.up();
    const done = await first.done;
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('another download') });
    expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  } finally {
    await proxy.close();
  }
  expect(fs.readdirSync(cwd)).toEqual(['atlas.bin']);
  expect(sha256(fs.readFileSync(path.join(cwd, 'atlas.bin')))).toBe(sha256(bytes));
});

test('the lock of a download killed mid-transfer (kill -9) is taken over by the next: it resumes the part', async () => {
  const bytes = bytesOf(8 * MIB);
  const source = path.join(folder(), 'source.bin');
  fs.writeFileSync(source, bytes);
  const up = await storage(env, ['upload', source, '--name', 'killed.bin', '--json']);
  const id: string = up.json().asset.id;
  const cwd = folder();
  const part = path.join(cwd, 'killed.bin.part');
  const proxy = await startTcpProxy(Number(new URL(ctx.baseUrl).port));
  try {
    proxy.holdAfter(MIB);
    const first = startCli({ ...env, api: `http://127.0.0.1:${proxy.port}` }, ['download', id], cwd);
    await waitUntil('the first download writing its part', async () => (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 0);
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
  } finally {
    await proxy.close();
  }
  const locks = path.join(env.cache, 'storage-cli', 'locks');
  expect(fs.readdirSync(locks).filter((f) => f.endsWith('.lock'))).toHaveLength(1);
  const again = await storage(env, ['download', id, '--json'], cwd);
  expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
  expect(again.json().resumed_from).toBeGreaterThan(0);
  expect(sha256(fs.readFileSync(path.join(cwd, 'killed.bin')))).toBe(sha256(bytes));
  expect(fs.readdirSync(locks).filter((f) => f.endsWith('.lock'))).toEqual([]);
});

test('a sync of a folder another sync of it is running is refused (exit 1): each file is one asset', async () => {
  const api = await apiClient(ctx.baseUrl, token);
  const dir = path.join(folder(), 'handouts');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'world.bin'), bytesOf(24 * MIB));
  // 4 MiB/s: the first's chunked upload takes seconds, and its asset is made only when it completes.
  const first = startCli(env, ['sync', dir, '--limit-rate', '4', '--json']);
  const states = path.join(env.cache, 'storage-cli', 'uploads');
  await waitUntil('the first sync uploading', async () => fs.existsSync(states) && fs.readdirSync(states).some((f) => f.endsWith('.json')));
  // Stopped while it holds the folder: the second runs whole inside the first's run, however slow its start.
  const second = await whileStopped(first.child, () => storage(env, ['sync', dir, '--json']));
  const done = await first.done;
  expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('another sync') });

  const listed = await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: 'handouts/' } } }));
  expect(listed.items.map((a) => a.name)).toEqual(['handouts/world.bin']);
  const third = await storage(env, ['sync', dir, '--json']);
  expect({ code: third.code, stderr: third.stderr }).toEqual({ code: 0, stderr: '' });
  expect(third.json().counts).toMatchObject({ unchanged: 1 });
});

test('a chunked upload of a file another upload of it is sending is refused (exit 1): the first completes its session alone', async () => {
  const api = await apiClient(ctx.baseUrl, token);
  const file = path.join(folder(), 'world.bin');
  fs.writeFileSync(file, bytesOf(24 * MIB));
  const name = `uploads-${uuidv7()}.bin`;
  const first = startCli(env, ['upload', file, '--name', name, '--limit-rate', '4', '--json']);
  const states = path.join(env.cache, 'storage-cli', 'uploads');
  await waitUntil('the first upload sending', async () => fs.existsSync(states) && fs.readdirSync(states).some((f) => f.endsWith('.json')));
  const second = await whileStopped(first.child, () => storage(env, ['upload', file, '--name', name, '--json']));
  const done = await first.done;
  expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('another upload') });
  expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  const listed = await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: name } } }));
  expect(listed.items.map((a) => a.name)).toEqual([name]);
});

test("a sync does not put a changed file over a version another writer made since it compared them: that file fails (412), the writer's version stays current", async () => {
  const api = await apiClient(ctx.baseUrl, token);
  const dir = path.join(folder(), 'notes');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'b-notes.txt'), 'first notes\n');
  const synced = await storage(env, ['sync', dir, '--json']);
  expect({ code: synced.code, stderr: synced.stderr }).toEqual({ code: 0, stderr: '' });
  const noteId: string = synced.json().steps[0].asset_id;

  // The sync uploads a-big.bin (paced) first, then b-notes.txt: the other writer comes in between.
  fs.writeFileSync(path.join(dir, 'a-big.bin'), bytesOf(24 * MIB));
  fs.writeFileSync(path.join(dir, 'b-notes.txt'), 'notes changed here\n');
  const sync = startCli(env, ['sync', dir, '--limit-rate', '4', '--json']);
  const states = path.join(env.cache, 'storage-cli', 'uploads');
  await waitUntil('the sync uploading a-big.bin', async () => fs.existsSync(states) && fs.readdirSync(states).some((f) => f.endsWith('.json')));
  const other = path.join(folder(), 'b-notes.txt');
  fs.writeFileSync(other, 'notes changed by another writer\n');
  const written = await whileStopped(sync.child, () => storage(env, ['upload', other, '--asset', noteId, '--json']));
  expect({ code: written.code, stderr: written.stderr }).toEqual({ code: 0, stderr: '' });
  const done = await sync.done;

  const steps = done.json().steps as Array<{ name: string; action: string; reason?: string }>;
  expect(steps.find((s) => s.name === 'notes/a-big.bin')).toMatchObject({ action: 'new' });
  expect(steps.find((s) => s.name === 'notes/b-notes.txt')).toMatchObject({ action: 'failed', reason: expect.stringMatching(/412/) });
  expect(done.code).toBe(1);
  const note = await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: noteId } } }));
  expect(note).toMatchObject({ version_count: 2, checksum_sha256: sha256(fs.readFileSync(other)) });
});
