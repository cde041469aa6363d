/**
 * `storage sync` and `storage pull` on the real bin: a DM's folder of 50 handouts synced, synced
 * again, changed and synced, pruned with --delete, planned with --dry-run, and pulled into an empty
 * folder. What is sent is read where a user (or an operator) would look: the service's
 * storage_bytes_uploaded_total, the caller's upload sessions (GET /uploads) and each asset's versions.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { unwrap, type StorageClient } from '../client';
import { apiClient } from './support/api';
import { bytesOf, sha256 } from './support/assets';
import { tokenFor } from './support/auth';
import { cliEnv, startCli, storage, type CliEnv } from './support/cli';
import { useTestService } from './support/context';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';

const ctx = useTestService();
const TAG = 'campaign-42';
const MIB = 1024 * 1024;
let env: CliEnv;
let api: StorageClient;
let root: string;
let folder: string;

jest.setTimeout(300_000);

beforeAll(async () => {
  const token = await tokenFor({ sub: `dm-${uuidv7()}` });
  env = cliEnv(ctx.baseUrl, token);
  api = await apiClient(ctx.baseUrl, token);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-sync-'));
  folder = path.join(root, 'handouts');
  // 50 files, some in subfolders, of sizes from 1 KiB to 50 KiB.
  for (let i = 1; i <= 50; i++) write(i % 5 === 0 ? `maps/map-${i}.bin` : `handout-${i}.bin`, i * 1024);
});

function write(rel: string, size: number): Buffer {
  const bytes = bytesOf(size);
  fs.mkdirSync(path.dirname(path.join(folder, rel)), { recursive: true });
  fs.writeFileSync(path.join(folder, rel), bytes);
  return bytes;
}

/** The folder's files (path with / : SHA-256). */
function filesOf(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      files[path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/')] = sha256(
        fs.readFileSync(path.join(entry.parentPath, entry.name)),
      );
  }
  return files;
}

async function bytesUploaded(): Promise<number> {
  const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('storage_bytes_uploaded_total '));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function uploadSessions(): Promise<number> {
  return (await unwrap(api.GET('/api/v2/uploads', { params: { query: { limit: 1000 } } }))).items.length;
}

/** The DM's live assets under handouts/, by name. */
async function assets(): Promise<Record<string, { id: string; versions: number; sha256: string | null; tags: string[] }>> {
  const page = await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: 'handouts/', limit: 1000 } } }));
  return Object.fromEntries(page.items.map((a) => [a.name, { id: a.id, versions: a.version_count, sha256: a.checksum_sha256, tags: a.tags }]));
}

/** What a sync could have changed: bytes received, sessions opened, the assets and their versions. */
async function snapshot() {
  return { bytes: await bytesUploaded(), sessions: await uploadSessions(), assets: await assets() };
}

async function sync(...args: string[]) {
  const run = await storage(env, ['sync', folder, '--tag', TAG, '--json', ...args]);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return run.json();
}

const asNames = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([rel, sha]) => [`handouts/${rel}`, sha]));

describe('a folder of 50 handouts', () => {
  test('the first sync uploads each file as an asset named handouts/<path>, tagged; the second sends 0 bytes and starts no upload', async () => {
    const before = await snapshot();
    const first = await sync();
    expect(first.counts).toEqual({ new: 50, changed: 0, unchanged: 0, delete: 0, refused: 0, failed: 0 });
    // 1 KiB + 2 KiB + … + 50 KiB
    const total = 1275 * 1024;
    expect(first.bytes_sent).toBe(total);
    const afterFirst = await snapshot();
    expect(afterFirst.bytes - before.bytes).toBe(total);
    expect(afterFirst.sessions - before.sessions).toBe(50);
    expect(Object.fromEntries(Object.entries(afterFirst.assets).map(([name, a]) => [name, a.sha256]))).toEqual(asNames(filesOf(folder)));
    expect(Object.values(afterFirst.assets).every((a) => a.versions === 1 && a.tags.includes(TAG))).toBe(true);

    const second = await sync();
    expect(second).toMatchObject({ counts: { new: 0, changed: 0, unchanged: 50, delete: 0, refused: 0, failed: 0 }, bytes_sent: 0 });
    expect(await snapshot()).toEqual(afterFirst);
  });

  test('after a change to 2 files, a sync sends exactly those 2, as new versions of their assets', async () => {
    const before = await snapshot();
    const changed: Record<string, Buffer> = { 'handout-7.bin': write('handout-7.bin', 3000), 'maps/map-10.bin': write('maps/map-10.bin', 5000) };
    const third = await sync();
    expect(third).toMatchObject({ counts: { new: 0, changed: 2, unchanged: 48, delete: 0, refused: 0, failed: 0 }, bytes_sent: 8000 });
    const after = await snapshot();
    expect(after.bytes - before.bytes).toBe(8000);
    expect(after.sessions - before.sessions).toBe(2);
    for (const [name, a] of Object.entries(after.assets)) {
      const rel = name.slice('handouts/'.length);
      expect({ name, id: a.id, versions: a.versions }).toEqual({ name, id: before.assets[name].id, versions: rel in changed ? 2 : 1 });
      if (rel in changed) expect(a.sha256).toBe(sha256(changed[rel]));
    }
  });

  test('--dry-run lists the plan (new, changed, delete) and changes nothing', async () => {
    fs.rmSync(path.join(folder, 'handout-1.bin'));
    write('handout-51.bin', 2048);
    write('handout-2.bin', 4096);
    const before = await snapshot();
    const plan = await sync('--delete', '--dry-run');
    expect(plan.counts).toEqual({ new: 1, changed: 1, unchanged: 48, delete: 1, refused: 0, failed: 0 });
    expect(plan.steps.filter((s: { action: string }) => s.action !== 'unchanged').map((s: { action: string; name: string }) => [s.action, s.name])).toEqual([
      ['changed', 'handouts/handout-2.bin'],
      ['new', 'handouts/handout-51.bin'],
      ['delete', 'handouts/handout-1.bin'],
    ]);
    expect(plan).toMatchObject({ dry_run: true, bytes_sent: 0 });
    const human = await storage(env, ['sync', folder, '--tag', TAG, '--delete', '--dry-run']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^delete +handouts\/handout-1\.bin /m);
    expect(human.stdout).toMatch(/would be: 1 new, 1 changed, 48 unchanged, 1 deleted; 0 B sent/);
    expect(await snapshot()).toEqual(before);
  });

  test('--delete soft-deletes the asset of a removed file (restorable), and uploads the rest of the plan', async () => {
    const gone = (await assets())['handouts/handout-1.bin'].id;
    const done = await sync('--delete');
    expect(done.counts).toEqual({ new: 1, changed: 1, unchanged: 48, delete: 1, refused: 0, failed: 0 });
    const after = await assets();
    expect(after['handouts/handout-1.bin']).toBeUndefined();
    expect(Object.keys(after)).toHaveLength(50);
    const deleted = await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: gone }, query: { include_deleted: 'true' } } }));
    expect(deleted.is_deleted).toBe(true);
  });

  test('pull into an empty folder reproduces the files; run again it receives nothing; a file that differs is replaced only with --force', async () => {
    const copy = path.join(root, 'copy');
    const pulled = await storage(env, ['pull', copy, '--prefix', 'handouts/', '--tag', TAG, '--json']);
    expect({ code: pulled.code, stderr: pulled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pulled.json().counts).toEqual({ new: 50, changed: 0, unchanged: 0, delete: 0, refused: 0, failed: 0 });
    expect(filesOf(copy)).toEqual(filesOf(folder));

    const again = await storage(env, ['pull', copy, '--prefix', 'handouts/', '--json']);
    expect(again.json()).toMatchObject({ counts: { new: 0, unchanged: 50 }, bytes_received: 0 });

    const mine = path.join(copy, 'maps', 'map-20.bin');
    fs.writeFileSync(mine, 'my own notes');
    const refused = await storage(env, ['pull', copy, '--prefix', 'handouts/']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/handouts\/maps\/map-20\.bin: the local file differs; --force replaces it/);
    expect(fs.readFileSync(mine, 'utf8')).toBe('my own notes');

    const forced = await storage(env, ['pull', copy, '--prefix', 'handouts/', '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(forced.json().counts).toMatchObject({ changed: 1, unchanged: 49 });
    expect(filesOf(copy)).toEqual(filesOf(folder));
  });

  test('pull writes nothing through a link in the folder (sync does not follow one either): those files are refused, exit 2', async () => {
    const copy = path.join(root, 'linked');
    const outside = path.join(root, 'outside');
    fs.mkdirSync(copy);
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(copy, 'maps'));
    const pulled = await storage(env, ['pull', copy, '--prefix', 'handouts/', '--tag', TAG, '--json']);
    expect(pulled.code).toBe(2);
    const refused = pulled.json().steps.filter((s: { action: string }) => s.action === 'refused');
    expect(refused.map((s: { name: string }) => s.name).sort()).toEqual(
      Object.keys(asNames(filesOf(path.join(folder, 'maps'))))
        .map((n) => n.replace('handouts/', 'handouts/maps/'))
        .sort(),
    );
    expect(refused[0].reason).toMatch(/maps is a link/);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(Object.keys(filesOf(copy)).some((rel) => rel.startsWith('maps/'))).toBe(false);
  });
});

test('sync refuses --delete with an empty --prefix and no --tag (it would take in every asset of the caller), and a missing folder: exit 2', async () => {
  expect((await storage(env, ['sync', folder, '--prefix', '', '--delete'])).code).toBe(2);
  expect((await storage(env, ['sync', path.join(root, 'nowhere')])).code).toBe(2);
  expect((await storage(env, ['sync', '--help'])).stdout).toMatch(/Example:\n {2}\$ storage sync /);
  expect((await storage(env, ['pull', '--help'])).stdout).toMatch(/Example:\n {2}\$ storage pull /);
});

test("a sync interrupted with SIGINT resumes when run again, as upload does: only the big file's missing parts are sent", async () => {
  const atlas = path.join(root, 'atlas');
  fs.mkdirSync(atlas);
  const bytes = bytesOf(40 * MIB);
  fs.writeFileSync(path.join(atlas, 'world.bin'), bytes);
  // 8 MiB/s: the chunked upload takes about 5 s, long enough to interrupt it after its first part.
  const first = startCli(env, ['sync', atlas, '--limit-rate', '8', '--json']);
  const states = path.join(env.cache, 'storage-cli', 'uploads');
  const uploadId = await waitUntil('a part received', async () => {
    const [state] = fs.existsSync(states) ? fs.readdirSync(states) : [];
    if (!state?.endsWith('.json')) return undefined;
    const { upload_id } = JSON.parse(fs.readFileSync(path.join(states, state), 'utf8'));
    const session = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: upload_id } } }));
    return session.parts_received.length > 0 && (upload_id as string);
  });
  first.child.kill('SIGINT');
  const interrupted = await first.done;
  expect(interrupted.code).toBe(130);
  expect(interrupted.stderr).toContain('run the same command again to resume');
  const before = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: uploadId } } }));
  expect(before.bytes_received).toBeGreaterThan(0);

  const second = await storage(env, ['sync', atlas, '--json']);
  expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
  expect(second.json()).toMatchObject({ counts: { new: 1 }, bytes_sent: 40 * MIB - before.bytes_received });
  const [asset] = (await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: 'atlas/' } } }))).items;
  expect(asset).toMatchObject({ name: 'atlas/world.bin', checksum_sha256: sha256(bytes), version_count: 1 });
  expect(await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: uploadId } } }))).toMatchObject({ status: 'completed' });
});

test('a file the server refuses is marked failed and the others go on; the sync exits as upload does for it', async () => {
  const odd = path.join(root, 'odd');
  fs.mkdirSync(odd);
  fs.writeFileSync(path.join(odd, 'fine.txt'), 'a fine handout');
  // A zero-width space disguises a name: the service refuses it (400).
  const refusedName = path.join(odd, 'zero\u200bwidth.txt');
  fs.writeFileSync(refusedName, 'a handout with a disguised name');
  const alone = await storage(env, ['upload', refusedName, '--name', 'odd/zero\u200bwidth.txt']);
  expect(alone.code).not.toBe(0);
  const run = await storage(env, ['sync', odd, '--json']);
  expect(run.code).toBe(alone.code);
  const summary = run.json();
  expect(summary.counts).toMatchObject({ new: 1, failed: 1 });
  expect(summary.steps.find((s: { action: string }) => s.action === 'failed')).toMatchObject({
    name: 'odd/zero\u200bwidth.txt',
    reason: expect.stringMatching(/400/),
  });
  expect(run.stderr).toMatch(/^storage: 1 failed: odd\/zero/m);
  const listed = await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: 'odd/' } } }));
  expect(listed.items.map((a) => a.name)).toEqual(['odd/fine.txt']);
});

test('sync --delete leaves the asset of a file that is there but not synced (hidden, a .part, behind a link): only a gone file is gone', async () => {
  const kept = path.join(root, 'kept');
  const elsewhere = path.join(root, 'elsewhere');
  fs.mkdirSync(kept);
  fs.mkdirSync(elsewhere);
  const there = { '.notes': 'hidden notes', 'draft.part': 'a draft', 'linked/map.txt': 'a map behind a link' };
  fs.writeFileSync(path.join(kept, '.notes'), there['.notes']);
  fs.writeFileSync(path.join(kept, 'draft.part'), there['draft.part']);
  fs.writeFileSync(path.join(elsewhere, 'map.txt'), there['linked/map.txt']);
  fs.symlinkSync(elsewhere, path.join(kept, 'linked'));
  fs.writeFileSync(path.join(kept, 'gone.txt'), 'soon gone');
  for (const rel of Object.keys(there)) {
    const up = await storage(env, ['upload', path.join(kept, rel), '--name', `kept/${rel}`]);
    expect({ rel, code: up.code, stderr: up.stderr }).toEqual({ rel, code: 0, stderr: '' });
  }
  expect((await storage(env, ['sync', kept])).code).toBe(0);
  fs.rmSync(path.join(kept, 'gone.txt'));
  const run = await storage(env, ['sync', kept, '--delete', '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(
    run
      .json()
      .steps.filter((s: { action: string }) => s.action === 'delete')
      .map((s: { name: string }) => s.name),
  ).toEqual(['kept/gone.txt']);
  const listed = await unwrap(api.GET('/api/v2/assets', { params: { query: { name_prefix: 'kept/' } } }));
  expect(listed.items.map((a) => a.name).sort()).toEqual(
    Object.keys(there)
      .map((rel) => `kept/${rel}`)
      .sort(),
  );
});
