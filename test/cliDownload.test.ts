/**
 * `storage download` against names and files it does not control, with the real bin: an asset's
 * name is chosen by whoever created it (here alice, who shares it with bob), so it is written under
 * only when it is one plain visible file name in the folder; a file bob has is replaced only with
 * --force; a download cut short never leaves a truncated file under the file's name.
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { bytesOf, sha256 } from './support/assets';
import { adminToken, tokenFor } from './support/auth';
import { cliEnv, storage, type CliEnv } from './support/cli';
import { useTestService, serveWith } from './support/context';
import { startTcpProxy } from './support/tcpProxy';

const MIB = 1024 * 1024;
const ctx = useTestService();
let alice: CliEnv;
let bob: CliEnv;

beforeAll(async () => {
  alice = cliEnv(ctx.baseUrl, await tokenFor({ sub: 'alice' }));
  bob = cliEnv(ctx.baseUrl, await tokenFor({ sub: 'bob' }));
});

jest.setTimeout(120_000);

function folder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'storage-cli-download-'));
}

/** Everything under `dir`, as relative paths. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** An asset of alice's, `bytes` long, shared with bob for reading. */
async function sharedAsset(bytes: Buffer, name = 'shared.bin'): Promise<string> {
  const file = path.join(folder(), 'upload.bin');
  fs.writeFileSync(file, bytes);
  const up = await storage(alice, ['upload', file, '--name', name, '--json']);
  expect({ code: up.code, stderr: up.stderr }).toEqual({ code: 0, stderr: '' });
  const id = up.json().asset.id;
  expect((await storage(alice, ['share', id, '--user', 'bob'])).code).toBe(0);
  return id;
}

test("an asset's name that would leave the folder, hide the file or name a device is not written under: exit 2, nothing written anywhere, -o still works", async () => {
  const bytes = bytesOf(1000);
  const id = await sharedAsset(bytes);
  const outside = path.join(os.tmpdir(), `storage-cli-absolute-${process.pid}`);
  const hostile = [
    '../x',
    outside,
    'a/../../x',
    '..',
    '.bashrc',
    'maps/.ssh',
    'bell\u0007.txt',
    'esc\u001b]0;owned\u0007.txt',
    'invoice\u202Efdp.exe',
    'CON',
    'nul.txt',
    'com1',
    'trailing.',
    'a:b',
    '..\\..\\x',
    'C:\\Windows\\x',
  ];
  for (const name of hostile) {
    // Names the API refuses today, but a catalog may hold (an older service, a restored backup).
    await ctx.db('assets').where({ id }).update({ name });
    const root = folder();
    const cwd = path.join(root, 'work');
    fs.mkdirSync(cwd);
    const run = await storage(bob, ['download', id], cwd);
    expect({ name, code: run.code, stderr: run.stderr }).toEqual({ name, code: 2, stderr: expect.stringContaining('give one with -o <file>') });
    // Shown escaped: a name's control characters never reach the terminal.
    expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    expect({ name, files: tree(root) }).toEqual({ name, files: ['work'] });
    expect(fs.existsSync(outside)).toBe(false);
  }
  const cwd = folder();
  const named = await storage(bob, ['download', id, '-o', 'mine.bin', '--json'], cwd);
  expect(named.code).toBe(0);
  expect(fs.readFileSync(path.join(cwd, 'mine.bin')).equals(bytes)).toBe(true);
  expect(tree(cwd)).toEqual(['mine.bin']);

  // A folder-like name is written as its last part, and -o <folder> writes into the folder.
  await ctx.db('assets').where({ id }).update({ name: 'maps/dungeon.png' });
  expect((await storage(bob, ['download', id], cwd)).code).toBe(0);
  fs.mkdirSync(path.join(cwd, 'into'));
  expect((await storage(bob, ['download', id, '-o', 'into'], cwd)).code).toBe(0);
  expect(tree(cwd)).toEqual(['dungeon.png', 'into', path.join('into', 'dungeon.png'), 'mine.bin']);
  expect(fs.readFileSync(path.join(cwd, 'into', 'dungeon.png')).equals(bytes)).toBe(true);
  // 21 runs of the bin: at 2 to 6 s each on a busy machine, past the file's 120 s.
}, 300_000);

describe('a file of the name that is there already is refused (exit 2), never appended to, removed or replaced', () => {
  const asset = bytesOf(50_000);
  let id: string;
  beforeAll(async () => {
    id = await sharedAsset(asset, 'notes.txt');
  });

  // Bob's own notes: shorter than the asset (the old download took them for a partial download,
  // appended to them, failed the check and removed them), of its size (taken as complete and
  // removed), longer (overwritten without a word).
  for (const [what, own] of [
    ['a smaller file', Buffer.from('my own notes\n')],
    ['a file of the same size', bytesOf(50_000).fill(7)],
    ['a larger file', bytesOf(80_000)],
  ] as const) {
    test(`${what}: left as it was, no part written`, async () => {
      const cwd = folder();
      const mine = path.join(cwd, 'notes.txt');
      fs.writeFileSync(mine, own);
      const { mtimeMs } = fs.statSync(mine);
      const run = await storage(bob, ['download', id], cwd);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: 'storage: notes.txt is there already; --force replaces it\n' });
      expect(fs.readFileSync(mine).equals(own)).toBe(true);
      expect(fs.statSync(mine).mtimeMs).toBe(mtimeMs);
      expect(tree(cwd)).toEqual(['notes.txt']);
    });
  }

  test('--force replaces it, once the download is verified; a file of the very bytes is then left as it is (exit 0)', async () => {
    const cwd = folder();
    const mine = path.join(cwd, 'notes.txt');
    fs.writeFileSync(mine, 'my own notes\n');
    const forced = await storage(bob, ['download', id, '--force', '--json'], cwd);
    expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: '' });
    expect(forced.json()).toMatchObject({ verified: true, checksum_sha256: sha256(asset), resumed_from: 0 });
    expect(fs.readFileSync(mine).equals(asset)).toBe(true);
    const { mtimeMs } = fs.statSync(mine);
    const again = await storage(bob, ['download', id], cwd);
    expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: expect.stringContaining('is there already, SHA-256 verified') });
    expect(fs.statSync(mine).mtimeMs).toBe(mtimeMs);
    expect(tree(cwd)).toEqual(['notes.txt']);
  });

  test('a .part of that name that no download left is refused too (exit 2), and replaced only with --force', async () => {
    const cwd = folder();
    const own = path.join(cwd, 'notes.txt.part');
    fs.writeFileSync(own, 'a part of something of my own');
    const run = await storage(bob, ['download', id], cwd);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('notes.txt.part is there, and no download left it') });
    expect(fs.readFileSync(own, 'utf8')).toBe('a part of something of my own');
    expect(tree(cwd)).toEqual(['notes.txt.part']);
    const forced = await storage(bob, ['download', id, '--force', '--json'], cwd);
    expect(forced.code).toBe(0);
    expect(forced.json()).toMatchObject({ verified: true, resumed_from: 0 });
    expect(tree(cwd)).toEqual(['notes.txt']);
    expect(fs.readFileSync(path.join(cwd, 'notes.txt')).equals(asset)).toBe(true);
  });

  test('-o - writes the verified bytes to stdout, whatever files are there; with --json it is refused (exit 2)', async () => {
    const cwd = folder();
    fs.writeFileSync(path.join(cwd, 'notes.txt'), 'my own notes\n');
    const run = await storage(bob, ['download', id, '-o', '-'], cwd);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdoutBytes.equals(asset)).toBe(true);
    expect(tree(cwd)).toEqual(['notes.txt']);
    expect(fs.readFileSync(path.join(cwd, 'notes.txt'), 'utf8')).toBe('my own notes\n');
    const json = await storage(bob, ['download', id, '-o', '-', '--json'], cwd);
    expect({ code: json.code, stdout: json.stdout }).toEqual({ code: 2, stdout: '' });
  });
});

/** A download of `id` by bob in `cwd`, cut after 1 MiB: it leaves its part (of `name`) and exits 1. */
async function cutDownload(id: string, cwd: string, name: string): Promise<number> {
  const proxy = await startTcpProxy(Number(new URL(ctx.baseUrl).port));
  try {
    proxy.cutAfter(MIB);
    const cut = await storage({ ...bob, api: `http://127.0.0.1:${proxy.port}` }, ['download', id], cwd);
    expect({ code: cut.code, files: tree(cwd) }).toEqual({ code: 1, files: [`${name}.part`] });
  } finally {
    await proxy.close();
  }
  const kept = fs.statSync(path.join(cwd, `${name}.part`)).size;
  expect(kept).toBeGreaterThan(0);
  return kept;
}

test('a download cut short leaves no file under its name, only its part; run again, it resumes from the part and verifies', async () => {
  const bytes = bytesOf(3 * MIB);
  const id = await sharedAsset(bytes, 'portrait.bin');
  const cwd = folder();
  const kept = await cutDownload(id, cwd, 'portrait.bin');
  expect(kept).toBeLessThan(3 * MIB);

  const resumed = await storage(bob, ['download', id, '--json'], cwd);
  expect({ code: resumed.code, stderr: resumed.stderr }).toEqual({ code: 0, stderr: '' });
  expect(resumed.json()).toMatchObject({ resumed_from: kept, verified: true });
  expect(tree(cwd)).toEqual(['portrait.bin']);
  expect(fs.readFileSync(path.join(cwd, 'portrait.bin')).equals(bytes)).toBe(true);
});

test("a part of another version (the asset's current one changed since) is not resumed: the download begins anew", async () => {
  const first = bytesOf(3 * MIB);
  const id = await sharedAsset(first, 'handout.bin');
  const cwd = folder();
  await cutDownload(id, cwd, 'handout.bin');
  const second = bytesOf(3 * MIB);
  const file = path.join(folder(), 'handout.bin');
  fs.writeFileSync(file, second);
  expect((await storage(alice, ['upload', file, '--asset', id])).code).toBe(0);

  const run = await storage(bob, ['download', id, '--json'], cwd);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('holds bytes of another version') });
  expect(run.json()).toMatchObject({ resumed_from: 0, verified: true, checksum_sha256: sha256(second) });
  expect(tree(cwd)).toEqual(['handout.bin']);
  expect(fs.readFileSync(path.join(cwd, 'handout.bin')).equals(second)).toBe(true);
});

test('a part of a version whose bytes (and so its ETag) changed since is not resumed: the download begins anew', async () => {
  const before = bytesOf(3 * MIB);
  const id = await sharedAsset(before, 'sheet.bin');
  const cwd = folder();
  await cutDownload(id, cwd, 'sheet.bin');
  // The same version id, other bytes: its ETag (the version's SHA-256) is another.
  const after = bytesOf(3 * MIB);
  const version = await ctx.db('asset_versions').where({ asset_id: id }).first('id', 'object_key');
  await ctx.s3.send(new PutObjectCommand({ Bucket: ctx.config.s3.bucket, Key: version.object_key, Body: after }));
  await ctx
    .db('asset_versions')
    .where({ id: version.id })
    .update({ checksum_sha256: sha256(after) });

  const run = await storage(bob, ['download', id, '--json'], cwd);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('holds bytes of another version') });
  expect(run.json()).toMatchObject({ version_id: version.id, resumed_from: 0, verified: true, checksum_sha256: sha256(after) });
  expect(fs.readFileSync(path.join(cwd, 'sheet.bin')).equals(after)).toBe(true);
});

test('a part whose bytes were changed fails the SHA-256 check: the part is removed, the file never written (exit 1); a link as the part is refused', async () => {
  const bytes = bytesOf(2 * MIB);
  const id = await sharedAsset(bytes, 'map.bin');
  const cwd = folder();
  const kept = await cutDownload(id, cwd, 'map.bin');
  const part = path.join(cwd, 'map.bin.part');
  fs.writeFileSync(part, bytesOf(kept).fill(1));
  const run = await storage(bob, ['download', id], cwd);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: expect.stringMatching(/SHA-256 .* differs .* it was removed/) });
  expect(tree(cwd)).toEqual([]);
  // A link left under the part's name is not written through, not even with --force.
  const target = path.join(folder(), 'target');
  fs.writeFileSync(target, 'untouched');
  fs.symlinkSync(target, part);
  const linked = await storage(bob, ['download', id, '--force'], cwd);
  expect({ code: linked.code, stderr: linked.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('is not a regular file') });
  expect(fs.readFileSync(target, 'utf8')).toBe('untouched');
});

test("ls and info show a name's control characters escaped: nothing a terminal would act on, one row per asset", async () => {
  const id = await sharedAsset(bytesOf(10), 'plain.bin');
  await ctx.db('assets').where({ id }).update({ name: 'evil\u001b]2;pwned\u0007\nfake\trow' });
  const ls = await storage(bob, ['ls', '--name-prefix', 'evil']);
  expect(ls.code).toBe(0);
  expect(ls.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  expect(ls.stdout.trim().split('\n')).toHaveLength(1);
  expect(ls.stdout).toContain('evil\\u{1b}]2;pwned\\u{7}\\u{a}fake\\u{9}row');
  const info = await storage(bob, ['info', id]);
  expect(info.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
  expect(info.stdout).toContain('name: evil\\u{1b}');
});

test("a download that fails in the store says so without the signed URL's signature or the token", async () => {
  const bytes = bytesOf(5000);
  const id = await sharedAsset(bytes, 'gone.bin');
  const { object_key } = await ctx.db('asset_versions').where({ asset_id: id }).first('object_key');
  await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: object_key }));
  // Every download a redirect to a presigned URL of the store.
  const redirecting = await serveWith(ctx, (c) => ({ ...c, downloadRedirects: { ...c.downloadRedirects, minBytes: 1 } }));
  try {
    const run = await storage({ ...bob, api: redirecting.baseUrl }, ['download', id], folder());
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^storage: /);
    for (const secret of ['X-Amz-Signature', 'X-Amz-Credential', bob.token!, await adminToken()]) expect(run.stderr).not.toContain(secret);
  } finally {
    await redirecting.close();
  }
});

describe('a hostile server', () => {
  const ASSET = '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69';
  const VERSION = '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a70';
  let server: http.Server;
  let api: string;
  let name = 'big.bin';
  let checksum = sha256(Buffer.alloc(10));
  // The content's body: endless when undefined.
  let content: Buffer | undefined;
  beforeAll(async () => {
    // Answers as the API would, but with a name and a body of its own choosing.
    server = http.createServer((req, res) => {
      const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.url === `/api/v2/assets/${ASSET}`) {
        json({ id: ASSET, name, current_version_id: VERSION });
        return;
      }
      if (req.url === `/api/v2/assets/${ASSET}/versions/${VERSION}`) {
        json({ id: VERSION, size_bytes: 10, checksum_sha256: checksum });
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      if (content) {
        res.end(content);
        return;
      }
      // Far more than the version's 10 bytes, for as long as the client reads.
      const chunk = Buffer.alloc(64 * 1024);
      const more = () => {
        while (res.write(chunk));
      };
      res.on('drain', more);
      res.on('close', () => res.off('drain', more));
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  test('a body longer than the version stops the download at its size: exit 1, nothing under the name, a part of at most its size', async () => {
    name = 'big.bin';
    const cwd = folder();
    const run = await storage({ ...bob, api }, ['download', ASSET], cwd);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: expect.stringContaining("the server sent more than the version's 10 bytes") });
    const files = tree(cwd);
    expect(files).not.toContain('big.bin');
    for (const f of files) expect(fs.statSync(path.join(cwd, f)).size).toBeLessThanOrEqual(10);
  });

  test('a SHA-256 that is a path is not used to name the part file', async () => {
    name = 'big.bin';
    checksum = '/../../../../../../tmp/storage-cli-evil';
    try {
      const cwd = folder();
      const run = await storage({ ...bob, api }, ['download', ASSET], cwd);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('the server gave no SHA-256') });
      expect(tree(cwd)).toEqual([]);
    } finally {
      checksum = sha256(Buffer.alloc(10));
    }
  });

  test('-o - of bytes that fail the SHA-256 check: written as they came, then exit 1 and stderr say they are not the version', async () => {
    name = 'small.bin';
    content = Buffer.alloc(10, 1);
    try {
      const cwd = folder();
      const run = await storage({ ...bob, api }, ['download', ASSET, '-o', '-'], cwd);
      expect({ code: run.code, stderr: run.stderr }).toEqual({
        code: 1,
        stderr: `storage: stdout: the download's SHA-256 ${sha256(content)} differs from the version's ${checksum}; what was written is not the version\n`,
      });
      expect(run.stdoutBytes.equals(content)).toBe(true);
      expect(tree(cwd)).toEqual([]);
    } finally {
      content = undefined;
    }
  });

  test('a name holding NUL (which no catalog stores, but a server may send) is not used', async () => {
    name = 'a\u0000b';
    const cwd = folder();
    const run = await storage({ ...bob, api }, ['download', ASSET], cwd);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 2, stderr: expect.stringContaining('give one with -o <file>') });
    expect(run.stderr).not.toContain('\u0000');
    expect(tree(cwd)).toEqual([]);
  });
});
