/**
 * The `storage` command end to end: each case runs the real bin as a child process against a test
 * service, and checks what a user would: the bytes that come back, the --json it prints, that an
 * interrupted upload resumes, that a backup and a restore are followed to their end, exit codes.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { NotFound, unwrap, type StorageClient } from '../client';
import { apiClient } from './support/api';
import { bytesOf, sha256 } from './support/assets';
import { adminToken, tokenFor } from './support/auth';
import { cliEnv, envOf, startCli, STORAGE_BIN, storage, type CliEnv } from './support/cli';
import { useTestService } from './support/context';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';

const MIB = 1024 * 1024;
const ctx = useTestService();
let env: CliEnv;
let dir: string;
let api: StorageClient;

beforeAll(async () => {
  env = cliEnv(ctx.baseUrl, await adminToken());
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-cli-'));
  api = await apiClient(ctx.baseUrl);
});

function fileOf(name: string, size: number): { file: string; bytes: Buffer } {
  const bytes = bytesOf(size);
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

async function upload(args: string[]): Promise<any> {
  const run = await storage(env, ['upload', ...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return run.json();
}

jest.setTimeout(180_000);

test('upload 40 MiB (chunked, with the checksum), then download it: the same bytes, verified', async () => {
  const { file, bytes } = fileOf('map.bin', 40 * MIB);
  const summary = await upload([file, '--tags', 'maps,campaign-42', '--metadata', 'campaign=42', '--name', 'dungeon map']);
  expect(summary).toMatchObject({ method: 'chunked', resumed: false, bytes_sent: 40 * MIB, size_bytes: 40 * MIB });
  expect(summary.asset).toMatchObject({
    name: 'dungeon map',
    size_bytes: 40 * MIB,
    checksum_sha256: sha256(bytes),
    tags: ['maps', 'campaign-42'],
    metadata: { campaign: '42' },
  });
  const out = path.join(dir, 'map.out');
  const got = await storage(env, ['download', summary.asset.id, '-o', out, '--json']);
  expect(got.code).toBe(0);
  expect(got.json()).toMatchObject({ verified: true, resumed_from: 0, checksum_sha256: sha256(bytes) });
  expect(fs.readFileSync(out).equals(bytes)).toBe(true);
});

test('an upload interrupted with SIGINT resumes when run again: only the missing parts are sent', async () => {
  const { file, bytes } = fileOf('portraits.bin', 40 * MIB);
  // 8 MiB/s: the upload takes about 5 s, long enough to interrupt it after its first part.
  const first = startCli(env, ['upload', file, '--limit-rate', '8', '--json']);
  const uploadId = await waitUntil('a part received', async () => {
    const [state] = fs.existsSync(path.join(env.cache, 'storage-cli', 'uploads')) ? fs.readdirSync(path.join(env.cache, 'storage-cli', 'uploads')) : [];
    if (!state?.endsWith('.json')) return undefined;
    const { upload_id } = JSON.parse(fs.readFileSync(path.join(env.cache, 'storage-cli', 'uploads', state), 'utf8'));
    const session = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: upload_id } } }));
    return session.parts_received.length > 0 && (upload_id as string);
  });
  // It holds no secret, and yet only its user may read it: 0600, in a 0700 folder.
  const uploads = path.join(env.cache, 'storage-cli', 'uploads');
  const [stateFile] = fs.readdirSync(uploads);
  expect((fs.statSync(uploads).mode & 0o777).toString(8)).toBe('700');
  expect((fs.statSync(path.join(uploads, stateFile)).mode & 0o777).toString(8)).toBe('600');
  expect(fs.readFileSync(path.join(uploads, stateFile), 'utf8')).not.toContain(env.token!);
  first.child.kill('SIGINT');
  const interrupted = await first.done;
  expect(interrupted.code).toBe(130);
  expect(interrupted.stderr).toContain('run the same command again to resume');
  const before = await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: uploadId } } }));
  expect(before).toMatchObject({ status: 'open' });
  expect(before.bytes_received).toBeGreaterThan(0);
  expect(before.bytes_received).toBeLessThan(40 * MIB);

  const second = await upload([file]);
  expect(second).toMatchObject({ method: 'chunked', upload_id: uploadId, resumed: true, bytes_sent: 40 * MIB - before.bytes_received });
  const out = path.join(dir, 'portraits.out');
  expect((await storage(env, ['download', second.asset.id, '-o', out])).code).toBe(0);
  expect(fs.readFileSync(out).equals(bytes)).toBe(true);
  // Done, the state is gone: the next run on the file is a new upload.
  expect(fs.readdirSync(path.join(env.cache, 'storage-cli', 'uploads'))).toEqual([]);
});

test('a download resumes its partial download with Range, and a partial download of other bytes fails the SHA-256 check (exit 1, part removed)', async () => {
  const { file, bytes } = fileOf('small.bin', 3 * MIB);
  const { asset } = await upload([file]);
  const out = path.join(dir, 'small.out');
  const part = `${out}.${sha256(bytes).slice(0, 16)}.part`;
  fs.writeFileSync(part, bytes.subarray(0, MIB));
  const resumed = await storage(env, ['download', asset.id, '-o', out, '--json']);
  expect(resumed.code).toBe(0);
  expect(resumed.json()).toMatchObject({ resumed_from: MIB, verified: true });
  expect(fs.readFileSync(out).equals(bytes)).toBe(true);
  expect(fs.existsSync(part)).toBe(false);

  fs.writeFileSync(part, bytesOf(MIB));
  const corrupt = await storage(env, ['download', asset.id, '-o', out, '--force']);
  expect(corrupt.code).toBe(1);
  expect(corrupt.stderr).toMatch(/SHA-256 .* differs/);
  expect(fs.existsSync(part)).toBe(false);
  expect(fs.readFileSync(out).equals(bytes)).toBe(true);
});

test('a simple upload holds its file in memory once at most (a copy kept for a retry held it twice), and --threshold is capped at 64 MiB', async () => {
  /** The bin's peak resident memory, in MiB, as /usr/bin/time measures it. */
  const peakOf = async (file: string) => {
    const { stderr } = await promisify(execFile)('/usr/bin/time', ['-f', 'peak %M', process.execPath, STORAGE_BIN, 'upload', file, '--threshold', '64'], {
      env: envOf(env),
    });
    return Number(/peak (\d+)\s*$/.exec(stderr)![1]) / 1024;
  };
  const small = await peakOf(fileOf('small-simple.bin', 1024).file);
  const { file, bytes } = fileOf('large-simple.bin', 60 * MIB);
  const large = await peakOf(file);
  expect(large - small).toBeLessThan(1.5 * 60);
  const [asset] = (await storage(env, ['ls', '--name-prefix', 'large-simple.bin', '--json'])).json().items;
  expect(asset).toMatchObject({ size_bytes: 60 * MIB, checksum_sha256: sha256(bytes) });
  const capped = await storage(env, ['upload', file, '--threshold', '65']);
  expect({ code: capped.code, stderr: capped.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('at most 64 (MiB)') });
});

test('a simple upload answered 429 is sent again, whole, after its Retry-After', async () => {
  const { file, bytes } = fileOf('retried.bin', 300_000);
  const target = new URL(ctx.baseUrl);
  let refused = 0;
  // The API behind a front that turns the first upload away.
  const front = http.createServer((req, res) => {
    if (req.url === '/api/v2/assets/upload' && refused === 0) {
      refused++;
      req.resume();
      res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/problem+json' }).end('{"status":429,"title":"Too Many Requests"}');
      return;
    }
    const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  try {
    const run = await storage({ ...env, api: `http://127.0.0.1:${(front.address() as AddressInfo).port}` }, ['upload', file, '--json']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('the server answered 429') });
    expect(refused).toBe(1);
    expect(run.json()).toMatchObject({ method: 'simple', asset: { size_bytes: 300_000, checksum_sha256: sha256(bytes) } });
  } finally {
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  }
});

test('share keeps a revocation made between its read of the grants and its write: the stale write is refused (412), read again and sent', async () => {
  const { asset } = await upload([fileOf('shared.bin', 1000).file]);
  const grants = (list: Array<{ subject: string; access: 'read' | 'write' }>) =>
    unwrap(api.PUT('/api/v2/assets/{id}/grants', { params: { path: { id: asset.id } }, body: list }));
  await grants([{ subject: 'user:dave', access: 'write' }]);
  const target = new URL(ctx.baseUrl);
  const writes: number[] = [];
  // The API behind a front that revokes dave's grant just before the CLI's first write of the grants reaches it.
  const front = http.createServer((req, res) => {
    const forward = () => {
      const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        if (req.method === 'PUT') writes.push(answer.statusCode!);
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    };
    if (req.method === 'PUT' && writes.length === 0) void grants([]).then(forward);
    else forward();
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  try {
    const run = await storage({ ...env, api: `http://127.0.0.1:${(front.address() as AddressInfo).port}` }, ['share', asset.id, '--user', 'erin', '--json']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(writes).toEqual([412, 200]);
    expect(run.json().grants).toEqual([{ subject: 'user:erin', access: 'read' }]);
    const now = await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id } } }));
    expect(now.grants).toEqual([{ subject: 'user:erin', access: 'read' }]);
  } finally {
    front.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
  }
});

test('a simple upload, a new version with --asset, and ls, info, versions, share, url, rm, restore with --json', async () => {
  const v1 = fileOf('token.png', 1000);
  const v2 = fileOf('token-v2.png', 2000);
  const { asset, method } = await upload([v1.file, '--content-type', 'image/png', '--tags', 'tokens']);
  expect(method).toBe('simple');
  expect(asset).toMatchObject({ name: 'token.png', content_type: 'image/png', size_bytes: 1000, checksum_sha256: sha256(v1.bytes) });
  const second = await upload([v2.file, '--asset', asset.id]);
  expect(second.version).toMatchObject({ asset_id: asset.id, version_number: 2, checksum_sha256: sha256(v2.bytes) });

  const ls = await storage(env, ['ls', '--tag', 'tokens', '--json']);
  expect(ls.json()).toMatchObject({ items: [{ id: asset.id, version_count: 2 }], next_cursor: null });
  const plain = await storage(env, ['ls', '--tag', 'tokens']);
  expect(plain.stdout.split('\t').slice(0, 2)).toEqual([asset.id, 'token.png']);
  expect(second.asset).toMatchObject({ name: 'token.png', version_count: 2 });
  expect((await storage(env, ['info', asset.id, '--json'])).json()).toMatchObject({ id: asset.id, size_bytes: 2000 });
  expect((await storage(env, ['versions', asset.id, '--json'])).json().items.map((v: any) => v.version_number)).toEqual([2, 1]);

  const shared = await storage(env, ['share', asset.id, '--group', 'campaign-42', '--access', 'read', '--json']);
  expect(shared.json().grants).toEqual([{ subject: 'group:campaign-42', access: 'read' }]);
  const player = await tokenFor({ sub: 'player', groups: ['campaign-42'] });
  expect((await storage({ ...env, token: player }, ['info', asset.id, '--json'])).json()).toMatchObject({ id: asset.id });

  const url = (await storage(env, ['url', asset.id, '--expires', '15m', '--json'])).json();
  expect(Date.parse(url.expires_at) - Date.now()).toBeLessThanOrEqual(15 * 60_000);
  const fetched = await fetch(url.url);
  expect(sha256(Buffer.from(await fetched.arrayBuffer()))).toBe(sha256(v2.bytes));

  expect((await storage(env, ['rm', asset.id])).code).toBe(0);
  expect((await storage(env, ['info', asset.id])).code).toBe(3);
  expect((await storage(env, ['restore', asset.id, '--json'])).json()).toMatchObject({ id: asset.id, is_deleted: false });
});

test('backup create --wait, then restore-backup of one asset with --wait brings it back after a permanent delete', async () => {
  const { file, bytes } = fileOf('portrait.bin', 2 * MIB);
  const { asset } = await upload([file]);
  const backup = await storage(env, ['backup', 'create', '--wait', '--json']);
  expect(backup.code).toBe(0);
  expect(backup.json()).toMatchObject({ status: 'completed', progress: { bytes_done: expect.any(Number) } });
  expect(backup.json().progress.bytes_done).toBeGreaterThanOrEqual(2 * MIB);
  expect((await storage(env, ['backup', 'ls', '--json'])).json().items.map((b: any) => b.id)).toContain(backup.json().id);

  expect((await storage(env, ['rm', asset.id, '--permanent'])).code).toBe(0);
  await waitUntil('the asset gone', () =>
    unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id }, query: { include_deleted: 'true' } } })).then(
      () => false,
      (err) => err instanceof NotFound,
    ),
  );
  const restore = await storage(env, ['restore-backup', backup.json().id, '--asset', asset.id, '--wait', '--json']);
  expect(restore.code).toBe(0);
  expect(restore.json()).toMatchObject({ status: 'completed', progress: { assets_restored: 1 } });
  const out = path.join(dir, 'portrait.out');
  expect((await storage(env, ['download', asset.id, '-o', out])).code).toBe(0);
  expect(fs.readFileSync(out).equals(bytes)).toBe(true);
});

test('drill --wait restores a sample of the newest backup and passes; backup ls then shows when it was proven restorable', async () => {
  await upload([fileOf('handout.bin', 4096).file]);
  const backup = (await storage(env, ['backup', 'create', '--wait', '--json'])).json();
  expect(backup.status).toBe('completed');
  const drill = await storage(env, ['drill', '--backup', backup.id, '--wait']);
  expect({ code: drill.code, stderr: drill.stderr }).toEqual({ code: 0, stderr: '' });
  expect(drill.stdout).toMatch(new RegExp(`restore drill \\S+ of backup ${backup.id} passed: (\\d+)/\\1 assets`));
  const listed = await storage(env, ['backup', 'ls']);
  expect(listed.stdout.split('\n').find((l) => l.startsWith(backup.id))).toMatch(/\d{4}-\d\d-\d\dT\S+Z\s*$/);
});

test('backup import registers the backups of the bucket the catalog does not know, and exits 1 naming a manifest it refuses', async () => {
  const backup = (await storage(env, ['backup', 'create', '--wait', '--json'])).json();
  expect(backup.status).toBe('completed');
  // The catalog forgets it, as a lost catalog would.
  await ctx.db('backup_jobs').where({ id: backup.id }).delete();
  const imported = await storage(env, ['backup', 'import']);
  expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: '' });
  expect(imported.stdout).toContain(`imported ${backup.id}`);
  expect(imported.stdout).toMatch(/\n1 imported, \d+ known already, 0 refused\n$/);
  expect((await storage(env, ['backup', 'ls', '--json'])).json().items).toContainEqual(backup);

  // A manifest without its summary: its backup never completed.
  const stray = `manifests/${uuidv7()}.jsonl`;
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: stray, Body: '{"type":"header"}\n' }));
  try {
    const refused = await storage(env, ['backup', 'import', '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json()).toMatchObject({ imported: [], refused: [{ manifest_key: stray, error: expect.stringMatching(/no summary/) }] });
    expect(refused.stderr).toMatch(/could not be imported/);
  } finally {
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.backupBucket, Key: stray }));
  }
});

test('operation show, cancel and wait follow an operation by its id or its URL', async () => {
  const session = await unwrap(api.POST('/api/v2/uploads', { body: { name: 'cancel-me.bin', size_bytes: 10, part_size_bytes: 5 * MIB } }));
  const id = `upload-${session.id}`;
  const shown = await storage(env, ['operation', 'show', id, '--json']);
  expect(shown.json()).toMatchObject({ id, kind: 'upload', status: 'running', done: false });
  const cancelled = await storage(env, ['operation', 'cancel', `/api/v2/operations/${id}`]);
  expect({ code: cancelled.code, stderr: cancelled.stderr }).toEqual({ code: 0, stderr: '' });
  const waited = await storage(env, ['operation', 'wait', id]);
  expect(waited.code).toBe(1);
  expect(waited.stdout).toContain(`${id} upload cancelled`);
  expect(waited.stderr).toMatch(/cancelled/);

  const run = (await storage(env, ['lifecycle', 'run', '--dry-run', '--json'])).json();
  const followed = await storage(env, ['operation', 'wait', run.operation_url]);
  expect({ code: followed.code, stderr: followed.stderr }).toEqual({ code: 0, stderr: '' });
  expect(followed.stdout).toBe(`lifecycle-${run.id} lifecycle_run succeeded /api/v2/lifecycle/runs/${run.id}\n`);
});

test('lifecycle run --dry-run --wait prints the counts; events tail prints the feed', async () => {
  const run = await storage(env, ['lifecycle', 'run', '--dry-run', '--wait']);
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/completed \(dry run\): versions_expired=\d+ assets_expired=\d+ assets_purged=\d+ uploads_aborted=\d+ bytes_freed=\d+/);
  const json = await storage(env, ['lifecycle', 'run', '--dry-run', '--wait', '--json']);
  expect(json.json()).toMatchObject({ status: 'completed', dry_run: true, counts: { versions_expired: expect.any(Number) } });

  const events = await storage(env, ['events', 'tail', '--json']);
  expect(events.code).toBe(0);
  const lines = events.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(lines.map((e) => e.type)).toContain('storage.asset.created');
  expect(lines.map((e) => e.sequence)).toEqual([...lines.map((e) => e.sequence)].sort((a, b) => a - b));
});

test('events tail --follow prints an event that happens while it follows, from the cursor it started at', async () => {
  const start = await storage(env, ['events', 'tail', '--json']);
  const lines = start.stdout.trim().split('\n').filter(Boolean);
  const last = lines.length ? JSON.parse(lines[lines.length - 1]).sequence : 0;
  const follower = startCli(env, ['events', 'tail', '--follow', '--json']);
  let seen = '';
  follower.child.stdout!.on('data', (c) => (seen += c));
  const { file } = fileOf('followed.bin', 1000);
  const { asset } = await upload([file]);
  const event = await waitUntil('the follower to print the new asset', async () =>
    seen
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((e) => e.type === 'storage.asset.created' && e.subject.includes(asset.id)),
  );
  expect(event.sequence).toBeGreaterThan(last);
  follower.child.kill('SIGINT');
  await follower.done;
});

test('exit codes: 3 for a missing asset, 4 for a denied request or no token, 2 for bad usage', async () => {
  const missing = await storage(env, ['info', '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69']);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toMatch(/^storage: 404 /);
  const user = await tokenFor({ sub: 'someone' });
  expect((await storage({ ...env, token: user }, ['backup', 'ls'])).code).toBe(4);
  expect((await storage({ ...env, token: undefined }, ['ls'])).code).toBe(4);
  for (const args of [['upload'], ['url', 'x', '--expires', 'soon'], ['frobnicate'], ['ls', '--limit', '0'], ['share', 'x', '--access', 'all']]) {
    const run = await storage(env, args);
    expect({ args, code: run.code }).toEqual({ args, code: 2 });
  }
  expect((await storage(env, ['upload', path.join(dir, 'no-such-file')])).code).toBe(1);
});

test('storage --help and each command --help show an example', async () => {
  for (const args of [
    [],
    ['upload'],
    ['download'],
    ['ls'],
    ['backup', 'create'],
    ['backup', 'import'],
    ['restore-backup'],
    ['lifecycle', 'run'],
    ['events', 'tail'],
    ['token'],
  ]) {
    const run = await storage(env, [...args, '--help']);
    expect({ args, code: run.code, example: /Example:\n {2}\$ storage /.test(run.stdout) || /Example:\n {2}\$ .*storage /.test(run.stdout) }).toEqual({
      args,
      code: 0,
      example: true,
    });
  }
});

describe('progress', () => {
  const socket = `storage-cli-test-${process.pid}`;
  const tmux = (...args: string[]) => promisify(execFile)('tmux', ['-L', socket, ...args]);
  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
  });

  test('in a terminal (tmux), upload draws a bar with a percentage, bytes, rate and ETA', async () => {
    const { file } = fileOf('terminal.bin', 24 * MIB);
    const vars = Object.entries(envOf(env)).filter(([k]) => ['STORAGE_API_URL', 'STORAGE_TOKEN', 'XDG_CACHE_HOME'].includes(k));
    await tmux(
      'new-session',
      '-d',
      '-x',
      '150',
      '-y',
      '10',
      ...vars.flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      `${process.execPath} ${STORAGE_BIN} upload ${file} --limit-rate 6; sleep 120`,
    );
    const screen = await waitUntil(
      'a progress bar on the screen',
      async () => {
        const { stdout } = await tmux('capture-pane', '-p');
        return /terminal\.bin\s+█+░*\s+\d{1,3}%\s+[\d.]+ MiB\/24\.0 MiB\s+[\d.]+ [KM]iB\/s\s+ETA/.test(stdout) && stdout;
      },
      30_000,
      200,
    );
    expect(screen).toMatch(/\d{1,3}%/);
  });

  test('with stderr piped, no bar is drawn', async () => {
    const { file } = fileOf('piped.bin', 24 * MIB);
    const run = await storage(env, ['upload', file]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^.*piped\.bin -> [0-9a-f-]{36} \(24\.0 MiB, chunked\)\n$/);
  });
});
