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

  expect((await storage(env, ['rm', asset.id, '--permanent', '--yes'])).code).toBe(0);
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
  expect(drill.stdout).toMatch(new RegExp(`restore drill \\S+ of backup ${backup.id} passed: (\\d+)/\\1 assets?`));
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

test('exit codes: 3 for a missing asset, 4 for a denied request or no token, 2 for bad usage or a file that is not there', async () => {
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
  expect((await storage(env, ['upload', path.join(dir, 'no-such-file')])).code).toBe(2);
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

describe('exit codes: one table for every command', () => {
  test('storage --help shows the table', async () => {
    const run = await storage(env, ['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Exit codes (every command):');
    for (const code of [0, 1, 2, 3, 4, 5]) expect(run.stdout).toMatch(new RegExp(`\\n  ${code}  \\S`));
  });

  test('bad input is 2 whether the CLI or the server refuses it', async () => {
    const local = await storage(env, ['url', '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69', '--expires', 'banana']);
    expect({ code: local.code, stderr: local.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('banana') });
    const refused = await storage(env, ['ls', '--created-after', 'banana']);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(/^storage: 400 /) });
  });

  test("each answer of the server gives its code, 429 and 503 after the client's retries; a server that cannot be reached is 5", async () => {
    let status = 0;
    let requests = 0;
    // A front answering every request with `status`, and a Retry-After of 0 so that retries take no time.
    const front = http.createServer((req, res) => {
      requests++;
      req.resume();
      res
        .writeHead(status, { 'content-type': 'application/problem+json', 'retry-after': '0' })
        .end(JSON.stringify({ status, title: http.STATUS_CODES[status], detail: 'from the front' }));
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const frontEnv = { ...env, api: `http://127.0.0.1:${(front.address() as AddressInfo).port}` };
    try {
      const expected: Record<number, number> = { 400: 2, 413: 2, 415: 2, 422: 2, 404: 3, 401: 4, 403: 4, 429: 5, 503: 5, 507: 5, 409: 1, 500: 1, 502: 1 };
      for (const [answer, code] of Object.entries(expected)) {
        status = Number(answer);
        requests = 0;
        const run = await storage(frontEnv, ['info', '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69']);
        expect({ status, code: run.code, stderr: run.stderr }).toEqual({ status, code, stderr: expect.stringContaining(`storage: ${status} `) });
        // 429 and 503 were tried again (1 + 5 retries) before the CLI gave up.
        expect({ status, requests }).toEqual({ status, requests: status === 429 || status === 503 ? 6 : 1 });
      }
    } finally {
      front.closeAllConnections();
      await new Promise((resolve) => front.close(resolve));
    }
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await storage({ ...env, api: `http://127.0.0.1:${port}` }, ['ls']);
    expect({ code: unreachable.code, stderr: unreachable.stderr }).toEqual({ code: 5, stderr: expect.stringContaining('ECONNREFUSED') });
  });
});

describe('rm --permanent', () => {
  test('without a terminal it needs --yes: refused (exit 2) and the asset intact; with --yes it deletes', async () => {
    const { file, bytes } = fileOf('keep-me.bin', 1000);
    const { asset } = await upload([file]);
    const refused = await storage(env, ['rm', asset.id, '--permanent']);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('give --yes') });
    expect(await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id } } }))).toMatchObject({ is_deleted: false, version_count: 1 });
    const content = await fetch(`${ctx.baseUrl}/api/v2/assets/${asset.id}/content`, { headers: { authorization: `Bearer ${env.token}` } });
    expect(sha256(Buffer.from(await content.arrayBuffer()))).toBe(sha256(bytes));

    const yes = await storage(env, ['rm', asset.id, '--permanent', '--yes']);
    expect({ code: yes.code, stderr: yes.stderr }).toEqual({ code: 0, stderr: '' });
    await waitUntil('the asset gone for good', () =>
      unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id }, query: { include_deleted: 'true' } } })).then(
        () => false,
        (err) => err instanceof NotFound,
      ),
    );
  });

  test('its --help example is a soft delete', async () => {
    const help = await storage(env, ['rm', '--help']);
    expect(help.stdout).toMatch(/Example:\n {2}\$ storage rm \S+\n/);
    expect(help.stdout).toContain('--yes');
  });
});

describe('in a terminal of 120 columns (tmux)', () => {
  const socket = `storage-cli-tty-${process.pid}`;
  const tmux = (...args: string[]) => promisify(execFile)('tmux', ['-L', socket, ...args]);
  let sessions = 0;
  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
  });

  /** Runs `storage <args>` in a new terminal 120 columns wide; answers its session's name. */
  async function inTerminal(args: string[]): Promise<string> {
    const name = `s${++sessions}`;
    const vars = Object.entries(envOf(env)).filter(([k]) => ['STORAGE_API_URL', 'STORAGE_TOKEN', 'XDG_CACHE_HOME'].includes(k));
    const command = [process.execPath, STORAGE_BIN, ...args].map((a) => `'${a}'`).join(' ');
    await tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      '120',
      '-y',
      '30',
      ...vars.flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      `${command}; echo "exit $?"; sleep 120`,
    );
    return name;
  }

  /** The lines the command printed, once it exited with `code`. */
  const printed = (name: string, code: number) =>
    waitUntil(
      `storage to exit ${code}`,
      async () => {
        const lines = (await tmux('capture-pane', '-p', '-t', name)).stdout.split('\n');
        const end = lines.indexOf(`exit ${code}`);
        return end >= 0 && lines.slice(0, end);
      },
      30_000,
      100,
    );

  test('rm --permanent asks y/N: "n" keeps the asset (exit 1), "y" deletes it', async () => {
    const { asset } = await upload([fileOf('asked.bin', 1000).file]);
    const no = await inTerminal(['rm', asset.id, '--permanent']);
    await waitUntil('the question', async () => (await tmux('capture-pane', '-p', '-t', no)).stdout.includes('It cannot be undone. [y/N]'), 30_000, 100);
    await tmux('send-keys', '-t', no, 'n', 'Enter');
    expect((await printed(no, 1)).join('\n')).toMatch(/asked\.bin: 1 version, 1000 B\) for good\? It cannot be undone\. \[y\/N\] n\nstorage: \S+ not deleted$/);
    expect(await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id } } }))).toMatchObject({ is_deleted: false });

    const yes = await inTerminal(['rm', asset.id, '--permanent']);
    await waitUntil('the question', async () => (await tmux('capture-pane', '-p', '-t', yes)).stdout.includes('[y/N]'), 30_000, 100);
    await tmux('send-keys', '-t', yes, 'y', 'Enter');
    expect((await printed(yes, 0)).join('\n')).toContain(`${asset.id} deleted for good`);
    await waitUntil('the asset gone for good', () =>
      unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: asset.id }, query: { include_deleted: 'true' } } })).then(
        () => false,
        (err) => err instanceof NotFound,
      ),
    );
  });

  test('ls fits a long name in 120 columns, cut with an ellipsis; one line per asset', async () => {
    const name = `a-very-long-handout-name-${'x'.repeat(120)}.pdf`;
    const { asset } = await upload([fileOf('long.pdf', 1000).file, '--name', name, '--tags', 'handouts,campaign-42,session-zero']);
    const lines = await printed(await inTerminal(['ls', '--name-prefix', 'a-very-long-handout-name-']), 0);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ID\s+NAME\s+SIZE\s+TYPE\s+VERSIONS\s+TAGS\s+UPDATED$/);
    expect(lines[1]).toMatch(new RegExp(`^${asset.id}  a-very-\\S*…\\s+1000 B\\s+\\S+\\s+1\\s+\\S+\\s+${asset.updated_at.replace(/\./g, '\\.')}$`));
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(120);
  });

  test('versions: the header stands over its columns, within 120 columns', async () => {
    const { asset } = await upload([fileOf('aligned.bin', 1000).file]);
    await upload([fileOf('aligned-2.bin', 20_000).file, '--asset', asset.id]);
    const versions = (await storage(env, ['versions', asset.id, '--json'])).json().items;
    const [header, ...rows] = await printed(await inTerminal(['versions', asset.id]), 0);
    expect(rows).toHaveLength(2);
    for (const [i, row] of rows.entries()) {
      const v = versions[i];
      expect(row.length).toBeLessThanOrEqual(120);
      expect(row.indexOf(v.id)).toBe(header.indexOf('ID'));
      expect(row.indexOf(v.checksum_sha256.slice(0, 12))).toBe(header.indexOf('SHA-256'));
      expect(row.indexOf(v.created_at)).toBe(header.indexOf('CREATED'));
    }
    expect(rows[0]).toMatch(/^2 +\S+ +19\.5 KiB +current /);
  });
});

test('npm run -s token -- --help shows its usage and an example (exit 0); an unknown option, the usage (exit 64)', async () => {
  const run = (...args: string[]) => promisify(execFile)('npm', ['run', '-s', 'token', '--', ...args], { cwd: path.join(__dirname, '..') });
  const help = await run('--help');
  expect(help.stdout).toMatch(/usage: npm run token -- --sub <subject>[^]*Example:\n {2}\$ .*npm run -s token -- --sub /);
  await expect(run('--frobnicate')).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('usage: npm run token') });
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
