/**
 * The `storage` commands that change an asset in place or read the service's state (mv, tag, meta,
 * versions restore, share --revoke, grants, uploads, usage, quota, policies, audit, events tail):
 * each runs the real bin against a test service, and the test checks its effect over HTTP.
 */
import net from 'node:net';
import { unwrap, type StorageClient } from '../client';
import { apiClient } from './support/api';
import { bytesOf, postForm, sha256, uploadAsset } from './support/assets';
import { adminToken, tokenFor } from './support/auth';
import { cliEnv, startCli, storage, type CliEnv } from './support/cli';
import { useTestService } from './support/context';
import { call } from './support/http';
import { seedAssets } from './support/lifecycle';
import { waitUntil } from './support/processes';
import { uuidv7 } from '../lib/platform/ids';

const ctx = useTestService();
let env: CliEnv;
let api: StorageClient;

beforeAll(async () => {
  env = cliEnv(ctx.baseUrl, await adminToken());
  api = await apiClient(ctx.baseUrl);
});

jest.setTimeout(120_000);

async function newAsset(fields: { tags?: string[]; metadata?: Record<string, string> } = {}): Promise<{ id: string; bytes: Buffer }> {
  const bytes = bytesOf(1000);
  const res = await uploadAsset(ctx.baseUrl, bytes, {
    name: 'handout.bin',
    ...(fields.tags ? { tags: fields.tags } : {}),
    ...(fields.metadata ? { metadata: JSON.stringify(fields.metadata) } : {}),
  });
  expect(res.status).toBe(201);
  return { id: (res.body as { id: string }).id, bytes };
}

const read = (id: string) => unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id } } }));

async function ok(args: string[], as: CliEnv = env) {
  const run = await storage(as, args);
  expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
  return run;
}

test('mv renames the asset', async () => {
  const { id } = await newAsset();
  const run = await ok(['mv', id, 'dungeon level 2.png']);
  expect(run.stdout).toBe(`${id} is now dungeon level 2.png\n`);
  expect((await read(id)).name).toBe('dungeon level 2.png');
  expect((await storage(env, ['mv', id, ''])).code).not.toBe(0);
  expect((await read(id)).name).toBe('dungeon level 2.png');
});

test('tag adds and removes tags, keeping the others; --set replaces them; neither is bad usage (2)', async () => {
  const { id } = await newAsset({ tags: ['maps', 'draft'] });
  const added = await ok(['tag', id, '--add', 'campaign-42,level-2', '--remove', 'draft', '--json']);
  expect(added.json().tags).toEqual(['maps', 'campaign-42', 'level-2']);
  expect((await read(id)).tags).toEqual(['maps', 'campaign-42', 'level-2']);
  await ok(['tag', id, '--set', 'final']);
  expect((await read(id)).tags).toEqual(['final']);
  expect((await storage(env, ['tag', id])).code).toBe(2);
  expect((await storage(env, ['tag', id, '--set', 'a', '--add', 'b'])).code).toBe(2);
  expect((await read(id)).tags).toEqual(['final']);
});

test('meta sets keys and --unset removes one, keeping the rest', async () => {
  const { id } = await newAsset({ metadata: { campaign: '42', draft: 'yes', author: 'dm' } });
  const run = await ok(['meta', id, 'level=2', 'campaign=43', '--unset', 'draft']);
  expect(run.stdout.trim().split('\n').sort()).toEqual(['author=dm', 'campaign=43', 'level=2']);
  expect((await read(id)).metadata).toEqual({ campaign: '43', author: 'dm', level: '2' });
  expect((await storage(env, ['meta', id, 'nokey'])).code).toBe(2);
  expect((await storage(env, ['meta', id])).code).toBe(2);
  expect((await read(id)).metadata).toEqual({ campaign: '43', author: 'dm', level: '2' });
});

test('versions restore copies an old version into a new current one; versions <id> still lists', async () => {
  const { id, bytes: first } = await newAsset();
  const second = bytesOf(2000);
  expect((await postForm(`${ctx.baseUrl}/api/v2/assets/${id}/versions`, second)).status).toBe(201);
  const [v2, v1] = (await unwrap(api.GET('/api/v2/assets/{id}/versions', { params: { path: { id } } }))).items;
  expect(v2.checksum_sha256).toBe(sha256(second));
  const run = await ok(['versions', 'restore', id, v1.id, '--json']);
  expect(run.json()).toMatchObject({ asset_id: id, version_number: 3, checksum_sha256: sha256(first) });
  expect(await read(id)).toMatchObject({ version_count: 3, checksum_sha256: sha256(first), size_bytes: 1000 });
  const listed = await ok(['versions', id, '--json']);
  expect(listed.json().items.map((v: { version_number: number }) => v.version_number)).toEqual([3, 2, 1]);
  expect((await storage(env, ['versions', 'restore', id, '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'])).code).toBe(3);
});

test('grants lists the grants; share --revoke takes one away and keeps the others, and the user loses access', async () => {
  const { id } = await newAsset();
  await ok(['share', id, '--user', 'erin', '--access', 'write']);
  await ok(['share', id, '--group', 'campaign-42']);
  const listed = await ok(['grants', id, '--json']);
  expect(listed.json()).toEqual(await unwrap(api.GET('/api/v2/assets/{id}/grants', { params: { path: { id } } })));
  expect(listed.json().grants).toHaveLength(2);
  expect(listed.json().grants).toEqual(
    expect.arrayContaining([
      { subject: 'user:erin', access: 'write' },
      { subject: 'group:campaign-42', access: 'read' },
    ]),
  );
  const human = (await ok(['grants', id])).stdout.trim().split('\n');
  expect(human.sort()).toEqual(['group:campaign-42\tread', 'user:erin\twrite']);
  const erin = { ...env, token: await tokenFor({ sub: 'erin' }) };
  expect((await storage(erin, ['info', id])).code).toBe(0);

  await ok(['share', id, '--user', 'erin', '--revoke']);
  const now = await unwrap(api.GET('/api/v2/assets/{id}/grants', { params: { path: { id } } }));
  expect(now.grants).toEqual([{ subject: 'group:campaign-42', access: 'read' }]);
  expect((await storage(erin, ['info', id])).code).toBe(3);
  expect((await storage(env, ['share', id, '--user', 'erin', '--revoke', '--access', 'write'])).code).toBe(2);
});

test('uploads abort ends an open session; uploads ls lists it', async () => {
  const session = await unwrap(api.POST('/api/v2/uploads', { body: { name: 'abandoned.bin', size_bytes: 10, part_size_bytes: 5 * 1024 * 1024 } }));
  const listed = await ok(['uploads', 'ls', '--status', 'open', '--json']);
  expect(listed.json().items.map((u: { id: string }) => u.id)).toContain(session.id);
  const run = await ok(['uploads', 'abort', session.id]);
  expect(run.stdout).toBe(`upload ${session.id} aborted\n`);
  expect(await unwrap(api.GET('/api/v2/uploads/{id}', { params: { path: { id: session.id } } }))).toMatchObject({ status: 'aborted' });
  expect((await storage(env, ['uploads', 'abort', '0193a5c2-7a4e-7cc1-9b2e-3f1d2c4b5a69'])).code).toBe(3);
});

test("usage shows the caller's usage as the API counts it; quota reads an owner's quota and sets it (admins only)", async () => {
  const user = { ...env, token: await tokenFor({ sub: 'quota-user' }) };
  const expected = await unwrap((await apiClient(ctx.baseUrl, user.token)).GET('/api/v2/usage', {}));
  expect((await ok(['usage', '--json'], user)).json()).toEqual(expected);
  expect((await ok(['usage'], user)).stdout).toMatch(/^owner: quota-user\nstored: 0 B of .+\nassets: 0 of .+ \(0 versions\)\nreserved by open uploads: 0 B\n$/);
  expect((await storage(user, ['usage', '--owner', 'someone-else'])).code).toBe(4);

  const set = await ok(['quota', 'quota-user', '--bytes', '1048576', '--assets', 'default']);
  expect(set.stdout).toMatch(/^owner: quota-user\nbytes: 1\.0 MiB\nassets: .+ \(the default\)\n$/);
  expect(await unwrap(api.GET('/api/v2/quotas/{owner_id}', { params: { path: { owner_id: 'quota-user' } } }))).toMatchObject({
    bytes: 1048576,
    assets: null,
  });
  expect((await ok(['quota', 'quota-user', '--json'])).json()).toMatchObject({ owner_id: 'quota-user', bytes: 1048576 });
  expect((await storage(user, ['quota', 'quota-user', '--bytes', '1'])).code).toBe(4);
  expect((await storage(env, ['quota', 'quota-user', '--bytes', 'lots'])).code).toBe(2);
  expect((await unwrap(api.GET('/api/v2/quotas/{owner_id}', { params: { path: { owner_id: 'quota-user' } } }))).bytes).toBe(1048576);
});

test('policies lists the lifecycle policies and shows one whole', async () => {
  const policy = await unwrap(
    api.POST('/api/v2/policies', {
      body: { name: 'old drafts', filter: { tags: ['draft'] }, rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 2 }] },
    }),
  );
  const listed = await ok(['policies', '--json']);
  expect(listed.json().items).toContainEqual(policy);
  expect((await ok(['policies'])).stdout).toContain(`${policy.id}\told drafts\tyes\texpire_noncurrent_versions(noncurrent_days=30, keep_latest=2)`);
  expect((await ok(['policies', policy.id, '--json'])).json()).toEqual(policy);
  expect((await ok(['policies', policy.id])).stdout).toBe(
    `${policy.id} old drafts\nfilter: {"tags":["draft"]}\nrule: expire_noncurrent_versions(noncurrent_days=30, keep_latest=2)\n`,
  );
  expect((await storage({ ...env, token: await tokenFor({ sub: 'player' }) }, ['policies'])).code).toBe(4);
});

test('audit lists the log with its filters: the rename of one asset, by its subject and action', async () => {
  const { id } = await newAsset();
  await ok(['mv', id, 'renamed.bin']);
  const page = await waitUntil('the rename in the audit log', async () => {
    const run = await ok(['audit', '--subject', id, '--action', 'asset.update', '--json']);
    return run.json().items.length > 0 && run.json();
  });
  expect(page.items).toEqual([expect.objectContaining({ action: 'asset.update', subjects: expect.objectContaining({ asset_id: id }), outcome: '200' })]);
  const same = await unwrap(api.GET('/api/v2/audit', { params: { query: { subject: id, action: 'asset.update' } } }));
  expect(page.items).toEqual(same.items);
  const human = await ok(['audit', '--subject', id, '--action', 'asset.update']);
  expect(human.stdout).toMatch(new RegExp(`^\\S+\ttest-admin\tasset\\.update\t[^\t]*${id}[^\t]*\t200\n$`));
  expect((await storage(env, ['audit', '--action', 'Not An Action'])).code).not.toBe(0);
});

type FeedEvent = { sequence: number; type: string; subject: string };
const linesOf = (stdout: string): FeedEvent[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('events tail --last N --subject ID prints the N newest events of that asset, oldest first', async () => {
  const { id } = await newAsset();
  await ok(['mv', id, 'one.bin']);
  await ok(['mv', id, 'two.bin']);
  // The feed holds an event back while an older transaction of the cluster runs: wait for all four.
  const all = await waitUntil("the asset's 4 events in the feed", async () => {
    const page = await unwrap(api.GET('/api/v2/events', { params: { query: { subject: id } } }));
    return page.items.length === 4 && page.items;
  });
  expect(all.map((e) => e.type)).toEqual(['storage.asset.created', 'storage.version.created', 'storage.asset.updated', 'storage.asset.updated']);
  const run = await ok(['events', 'tail', '--last', '2', '--subject', id, '--json']);
  expect(linesOf(run.stdout).map((e) => e.sequence)).toEqual(all.slice(2).map((e) => e.sequence));
  const since = await ok(['events', 'tail', '--subject', id, '--since', new Date(Date.now() - 3_600_000).toISOString(), '--json']);
  expect(linesOf(since.stdout).map((e) => e.sequence)).toEqual(all.map((e) => e.sequence));
  expect((await ok(['events', 'tail', '--subject', id, '--since', new Date(Date.now() + 3_600_000).toISOString(), '--json'])).stdout).toBe('');
  expect((await storage(env, ['events', 'tail', '--since', 'yesterday-ish'])).code).toBe(2);
});

test('events tail --since now --follow prints only what happens from then on', async () => {
  const { id } = await newAsset();
  await waitUntil("the asset's events settled", async () => {
    const page = await unwrap(api.GET('/api/v2/events', { params: { query: { subject: id } } }));
    return page.items.length === 2;
  });
  const follower = startCli(env, ['events', 'tail', '--since', 'now', '--subject', id, '--follow', '--json']);
  let seen = '';
  follower.child.stdout!.on('data', (c) => (seen += c));
  try {
    // Each rename prints an event once the follower has found the end of the feed: rename until one shows.
    let n = 0;
    const printed = await waitUntil('the follower to print a rename', async () => {
      await ok(['mv', id, `renamed-${++n}.bin`]);
      return linesOf(seen).length > 0 && linesOf(seen);
    });
    expect(printed.every((e) => e.type === 'storage.asset.updated' && e.subject === id)).toBe(true);
  } finally {
    follower.child.kill('SIGINT');
    await follower.done;
  }
});

test('events tail --follow waits out an API it cannot reach (backoff), then prints what happened', async () => {
  // A port with nothing behind it (a listener opened and closed): every connection is refused.
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(p));
    });
  });
  const follower = startCli({ ...env, api: `http://127.0.0.1:${port}` }, ['events', 'tail', '--follow', '--json']);
  let out = '';
  let err = '';
  follower.child.stdout!.on('data', (c) => (out += c));
  follower.child.stderr!.on('data', (c) => (err += c));
  // Later, the API comes up on that port (a proxy to the test service).
  const target = Number(new URL(ctx.baseUrl).port);
  let proxy: net.Server | undefined;
  try {
    const waits = await waitUntil('three waits, each longer', async () => {
      const ms = [...err.matchAll(/cannot be reached.*trying again in ([\d.]+) s/g)].map((m) => Number(m[1]));
      return ms.length >= 3 && ms;
    });
    expect(waits.slice(0, 3)).toEqual([0.5, 1, 2]);
    expect(follower.child.exitCode).toBeNull();
    proxy = net.createServer((client) => {
      const server = net.connect(target, '127.0.0.1');
      client.pipe(server).pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', resolve));
    const { id } = await newAsset();
    await waitUntil('the follower to print the new asset', async () => linesOf(out).some((e) => e.type === 'storage.asset.created' && e.subject === id));
  } finally {
    follower.child.kill('SIGINT');
    await follower.done;
    await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
  }
});

test('lifecycle run --dry-run --wait lists each version and asset it would remove; the API pages them; nothing is removed', async () => {
  const [map, gone, stale] = await seedAssets(ctx, [
    { name: 'dry/map.png', noncurrentDaysAgo: [40, 40] },
    { name: 'dry/gone.png', deletedDaysAgo: 40 },
    { name: 'dry/stale.png', updatedDaysAgo: 40 },
  ]);
  const policy = await unwrap(
    api.POST('/api/v2/policies', {
      body: {
        name: 'dry',
        filter: { name_prefix: 'dry/' },
        rules: [
          { action: 'expire_noncurrent_versions', noncurrent_days: 30 },
          { action: 'purge_deleted', days: 30 },
          { action: 'expire_assets', days: 30 },
        ],
      },
    }),
  );
  const run = await ok(['lifecycle', 'run', '--policy', policy.id, '--dry-run', '--wait', '--json']);
  const size = (asset: typeof map) => asset.versions.reduce((sum, v) => sum + v.sizeBytes, 0);
  const expected = [
    { action: 'purge_asset', asset_id: gone.id, version_id: null, upload_id: null, size_bytes: size(gone) },
    { action: 'expire_asset', asset_id: stale.id, version_id: null, upload_id: null, size_bytes: null },
    ...map.versions
      .filter((v) => !v.current)
      .map((v) => ({ action: 'expire_version', asset_id: map.id, version_id: v.id, upload_id: null, size_bytes: v.sizeBytes })),
  ];
  expect(run.json()).toMatchObject({
    status: 'completed',
    dry_run: true,
    counts: { versions_expired: 2, assets_expired: 1, assets_purged: 1 },
    items: expected,
  });

  // The API answers them too, a page at a time.
  const runId = run.json().id;
  const paged: unknown[] = [];
  let cursor: string | undefined;
  do {
    const page = await unwrap(api.GET('/api/v2/lifecycle/runs/{id}/items', { params: { path: { id: runId }, query: { limit: 1, cursor } } }));
    expect(page.items.length).toBeLessThanOrEqual(1);
    paged.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  expect(paged).toEqual(expected);
  expect((await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${uuidv7()}/items`)).status).toBe(404);
  expect((await call(`${ctx.baseUrl}/api/v2/lifecycle/runs/${runId}/items`, { as: await tokenFor({ sub: 'player' }) })).status).toBe(403);

  const human = await ok(['lifecycle', 'items', runId]);
  expect(human.stdout.trim().split('\n')).toEqual([
    `purge_asset\t${gone.id}\t\t${size(gone)} B`,
    `expire_asset\t${stale.id}\t\t`,
    ...expected.slice(2).map((i) => `expire_version\t${map.id}\t${i.version_id}\t${i.size_bytes} B`),
  ]);
  // A dry run: everything is where it was.
  expect((await read(map.id)).version_count).toBe(3);
  expect(await read(stale.id)).toMatchObject({ is_deleted: false });
  expect((await unwrap(api.GET('/api/v2/assets/{id}', { params: { path: { id: gone.id }, query: { include_deleted: 'true' } } }))).is_deleted).toBe(true);
});
