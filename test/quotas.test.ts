/**
 * Per-owner quotas (issue 14), over HTTP against the real servers: 20 uploads of one owner at once
 * with room for 5 make exactly 5 versions; an upload over the quota is 507 with the usage and the
 * limit, refused before its bytes are stored where its size is known and stopped mid-stream
 * otherwise, leaving nothing behind; the assets quota; the override and usage routes and who may
 * use them; deletes and prunes free what they remove; the metrics; and the usage table always equal
 * to what the catalog sums.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { UploadState } from '../workflows/uploads/definitions';
import { commitUploadedVersion } from '../lib/uploads/sessions';
import { writeAudit } from '../lib/audit/log';
import { ROLES } from '../lib/auth/actor';
import { tokenFor } from './support/auth';
import { bytesOf } from './support/assets';
import { addAsset, addVersion, objectKeys, settled } from './support/catalog';
import { abortUpload, openMultipartKeys } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';

const MiB = 1024 * 1024;
// The default for every owner of this file: 3 assets (owners that need more get an override).
const ASSETS_PER_OWNER = 3;

// A source for service.asset.requested: 3000 bytes.
let files: http.Server;
let filesUrl: string;
const tokens = new Map<string, string>();
const as = async (sub: string, roles: string[] = []) => {
  if (!tokens.has(sub)) tokens.set(sub, await tokenFor({ sub, roles }));
  return tokens.get(sub)!;
};

beforeAll(async () => {
  files = http.createServer((_req, res) => res.writeHead(200).end(bytesOf(3000)));
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});
// Read once the servers above listen.
const ctx = useTestService(() => ({
  STORAGE_QUOTA_ASSETS_PER_OWNER: String(ASSETS_PER_OWNER),
  STORAGE_MAX_VERSIONS: '2',
  STORAGE_INGEST_ALLOWED_HOSTS: new URL(filesUrl).host,
}));
afterAll(async () => {
  files?.close();
});

const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

function form(file: Buffer, name = 'file.bin'): FormData {
  const body = new FormData();
  body.append('name', name);
  body.append('file', new Blob([file]), name);
  return body;
}

const upload = async (sub: string, file: Buffer) => call(url('/assets/upload'), { method: 'POST', body: form(file), as: await as(sub) });

const setQuota = (owner: string, body: Record<string, unknown>) => call(url(`/quotas/${owner}`), { method: 'PUT', json: body });

async function usage(owner: string): Promise<any> {
  const res = await call(url(`/usage?owner_id=${owner}`));
  expect(res.status).toBe(200);
  return res.body;
}

/** What the catalog itself holds for an owner: the figures owner_usage must equal. */
async function catalogSums(owner: string) {
  const stored = await ctx
    .db('asset_versions as v')
    .join('assets as a', 'a.id', 'v.asset_id')
    .where('a.owner_id', owner)
    .select(ctx.db.raw('COALESCE(sum(v.size_bytes), 0)::bigint AS bytes'), ctx.db.raw('count(*)::int AS versions'));
  const [{ assets }] = await ctx.db('assets').where({ owner_id: owner }).count({ assets: '*' });
  const [{ reserved }] = await ctx
    .db('upload_sessions')
    .where({ quota_owner_id: owner })
    .whereIn('status', ['open', 'completing'])
    .select(ctx.db.raw('COALESCE(sum(reserved_bytes), 0)::bigint AS reserved'));
  return { bytes_stored: stored[0].bytes, versions: stored[0].versions, assets: Number(assets), reserved_bytes: reserved };
}

function expectQuotaProblem(res: JsonAnswer, facts: { quota: 'bytes' | 'assets'; usage?: number; requested?: number; limit?: number; owner_id: string }) {
  expectProblem(res, 507);
  expect(res.body.type).toMatch(/quota-exceeded$/);
  expect(res.body).toMatchObject(facts);
}

describe('20 uploads of one owner at once, with room for 5', () => {
  test('simple uploads: exactly 5 versions, the other 15 are 507, and the usage is the sum of the bytes stored', async () => {
    const owner = 'racer';
    expect((await setQuota(owner, { bytes: 5 * 1000, assets: 100 })).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 20 }, () => upload(owner, bytesOf(1000))));
    const made = answers.filter((res) => res.status === 201 || res.status === 202);
    const refused = answers.filter((res) => res.status === 507);
    expect({ made: made.length, refused: refused.length }).toEqual({ made: 5, refused: 15 });
    await Promise.all(made.map((res) => settled(ctx.baseUrl, res, 'asset')));
    for (const res of refused) {
      expectProblem(res, 507);
      expect(res.body).toMatchObject({ quota: 'bytes', limit: 5000, requested: 1000, owner_id: owner });
      expect(res.body.usage).toBeGreaterThanOrEqual(4001);
    }

    const versions = await ctx.db('asset_versions as v').join('assets as a', 'a.id', 'v.asset_id').where('a.owner_id', owner).pluck('v.size_bytes');
    expect(versions).toEqual([1000, 1000, 1000, 1000, 1000]);
    // Every refused upload left nothing: no session, no object.
    expect(await ctx.db('upload_sessions').where({ quota_owner_id: owner }).whereNot({ status: 'completed' }).count({ n: '*' })).toEqual([{ n: 0 }]);
    expect(await objectKeys(ctx, '')).toHaveLength((await ctx.db('asset_versions').count({ n: '*' }).first())!.n as number);
    expect(await usage(owner)).toEqual({
      owner_id: owner,
      bytes_stored: 5000,
      assets: 5,
      versions: 5,
      reserved_bytes: 0,
      quota: { bytes: 5000, assets: 100 },
    });
    expect(await catalogSums(owner)).toEqual({ bytes_stored: 5000, versions: 5, assets: 5, reserved_bytes: 0 });

    // The commit activity run again (a retry after its answer was lost) charges nothing twice.
    const session = await ctx.db('upload_sessions').where({ quota_owner_id: owner, status: 'completed' }).first();
    await commitUploadedVersion(
      ctx.db,
      session.id,
      { sizeBytes: session.size_bytes, checksumSha256: session.checksum_sha256 },
      ctx.config.versions.max,
      writeAudit,
    );
    expect(await usage(owner)).toMatchObject({ bytes_stored: 5000, assets: 5, versions: 5, reserved_bytes: 0 });
  });

  test('chunked sessions, whose size is known when they open: exactly 5 open, the other 15 are 507 and leave no session', async () => {
    const owner = 'chunker';
    expect((await setQuota(owner, { bytes: 5 * MiB, assets: 100 })).status).toBe(200);
    const token = await as(owner);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(url('/uploads'), { method: 'POST', json: { name: `c${i}`, size_bytes: MiB }, as: token })),
    );
    const opened = answers.filter((res) => res.status === 201);
    expect(opened).toHaveLength(5);
    for (const res of answers.filter((a) => a.status !== 201)) {
      expectQuotaProblem(res, { quota: 'bytes', usage: 5 * MiB, limit: 5 * MiB, owner_id: owner });
    }
    expect(await ctx.db('upload_sessions').where({ quota_owner_id: owner }).count({ n: '*' })).toEqual([{ n: 5 }]);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, reserved_bytes: 5 * MiB });
    expect(await catalogSums(owner)).toMatchObject({ reserved_bytes: 5 * MiB });

    // Aborting frees what the sessions held.
    for (const res of opened) expect((await abortUpload(ctx.baseUrl, res.body.id)).status).toBe(204);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, reserved_bytes: 0 });
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, '')).toEqual([]);
  });
});

describe('an upload over the quota is 507, with the usage and the limit, and leaves nothing behind', () => {
  async function footprint(owner: string) {
    return {
      sessions: Number((await ctx.db('upload_sessions').where({ quota_owner_id: owner }).count({ n: '*' }))[0].n),
      versions: (await catalogSums(owner)).versions,
      objects: (await objectKeys(ctx, '')).length,
      multipart: (await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, '')).length,
    };
  }

  test('a simple upload that passes the quota mid-stream is stopped: no row, no object, no part', async () => {
    const owner = 'streamer';
    expect((await setQuota(owner, { bytes: 6 * MiB })).status).toBe(200);
    await addAsset(ctx.baseUrl, bytesOf(MiB), { owner_id: owner });
    const before = await footprint(owner);
    // Larger than one staging part, so the first part is stored before the stream passes the limit.
    const res = await upload(owner, bytesOf(12 * MiB));
    expectQuotaProblem(res, { quota: 'bytes', owner_id: owner, limit: 6 * MiB });
    expect(res.body.usage).toBeGreaterThanOrEqual(MiB);
    expect(res.body.usage + res.body.requested).toBeGreaterThan(6 * MiB);
    expect(await footprint(owner)).toEqual(before);
    expect(await usage(owner)).toMatchObject({ bytes_stored: MiB, reserved_bytes: 0, assets: 1, versions: 1 });

    // What fits still goes in.
    await addVersion(ctx.baseUrl, (await ctx.db('assets').where({ owner_id: owner }).first('id')).id, bytesOf(4 * MiB));
    expect(await usage(owner)).toMatchObject({ bytes_stored: 5 * MiB, reserved_bytes: 0, versions: 2 });
  });

  test('a chunked upload whose declared size passes the quota is refused when it opens', async () => {
    const owner = 'declarer';
    expect((await setQuota(owner, { bytes: 10 * MiB })).status).toBe(200);
    const before = await footprint(owner);
    const res = await call(url('/uploads'), { method: 'POST', json: { name: 'big', size_bytes: 10 * MiB + 1 }, as: await as(owner) });
    expectQuotaProblem(res, { quota: 'bytes', usage: 0, limit: 10 * MiB, owner_id: owner });
    expect(res.body.requested).toBe(10 * MiB + 1);
    expect(await footprint(owner)).toEqual(before);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, reserved_bytes: 0 });
  });

  test('a new version is charged to the asset owner, whoever sends it', async () => {
    const owner = 'sharer';
    const writer = 'scribe';
    expect((await setQuota(owner, { bytes: 3000 })).status).toBe(200);
    const asset = (await addAsset(ctx.baseUrl, bytesOf(2000), { owner_id: owner })).body;
    await call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json: [{ subject: `user:${writer}`, access: 'write' }] });
    const res = await call(url(`/assets/${asset.id}/versions`), { method: 'POST', body: form(bytesOf(1500)), as: await as(writer) });
    expectQuotaProblem(res, { quota: 'bytes', requested: 1500, owner_id: owner });
    expect(await usage(writer)).toMatchObject({ bytes_stored: 0, reserved_bytes: 0 });
    expect(await usage(owner)).toMatchObject({ bytes_stored: 2000, reserved_bytes: 0, versions: 1 });
  });

  test("the owner's figures are in a refusal only for the owner and admins: a grantee learns which limit, not the usage or the limit", async () => {
    const owner = 'discreet';
    const writer = 'grantee';
    expect((await setQuota(owner, { bytes: 3000 })).status).toBe(200);
    const asset = (await addAsset(ctx.baseUrl, bytesOf(2000), { owner_id: owner })).body;
    await call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json: [{ subject: `user:${writer}`, access: 'write' }] });
    const simple = (token: string) => call(url(`/assets/${asset.id}/versions`), { method: 'POST', body: form(bytesOf(1500)), as: token });
    const chunked = (token: string) => call(url('/uploads'), { method: 'POST', json: { name: 'more.bin', size_bytes: 1500, asset_id: asset.id }, as: token });

    for (const res of [await simple(await as(writer)), await chunked(await as(writer))]) {
      expectQuotaProblem(res, { quota: 'bytes', requested: 1500, owner_id: owner });
      expect(res.body).not.toHaveProperty('usage');
      expect(res.body).not.toHaveProperty('limit');
      expect(JSON.stringify(res.body)).not.toMatch(/2000|3000/);
    }
    for (const token of [await as(owner), await as('auditor', [ROLES.admin])]) {
      for (const res of [await simple(token), await chunked(token)])
        expectQuotaProblem(res, { quota: 'bytes', usage: 2000, requested: 1500, limit: 3000, owner_id: owner });
    }
    expect(await usage(owner)).toMatchObject({ bytes_stored: 2000, reserved_bytes: 0, versions: 1 });
  });
});

describe('the assets quota (STORAGE_QUOTA_ASSETS_PER_OWNER)', () => {
  test('a new asset past the limit is 507; a new version is not a new asset; a soft-deleted asset counts until it is purged', async () => {
    const owner = 'collector';
    const made: string[] = [];
    for (let i = 0; i < ASSETS_PER_OWNER; i++) made.push((await settled(ctx.baseUrl, await upload(owner, bytesOf(10)), 'asset')).body.id);
    const refused = await upload(owner, bytesOf(10));
    expectQuotaProblem(refused, { quota: 'assets', usage: ASSETS_PER_OWNER, limit: ASSETS_PER_OWNER, owner_id: owner });
    const chunked = await call(url('/uploads'), { method: 'POST', json: { name: 'more', size_bytes: 10 }, as: await as(owner) });
    expectQuotaProblem(chunked, { quota: 'assets', usage: ASSETS_PER_OWNER, limit: ASSETS_PER_OWNER, owner_id: owner });

    await addVersion(ctx.baseUrl, made[0], bytesOf(20));
    expect(await usage(owner)).toMatchObject({ assets: ASSETS_PER_OWNER, versions: ASSETS_PER_OWNER + 1, bytes_stored: 10 * ASSETS_PER_OWNER + 20 });

    expect((await call(url(`/assets/${made[1]}`), { method: 'DELETE', as: await as(owner) })).status).toBe(204);
    expect((await upload(owner, bytesOf(10))).status).toBe(507);
    expect(await usage(owner)).toMatchObject({ assets: ASSETS_PER_OWNER, bytes_stored: 10 * ASSETS_PER_OWNER + 20 });

    const purge = await call(url(`/assets/${made[1]}?permanent=true`), { method: 'DELETE', as: await as(owner) });
    expect([202, 204]).toContain(purge.status);
    await waitUntil('the purge to free its asset', async () => (await usage(owner)).assets === ASSETS_PER_OWNER - 1);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 10 * (ASSETS_PER_OWNER - 1) + 20, versions: ASSETS_PER_OWNER });
    expect((await settled(ctx.baseUrl, await upload(owner, bytesOf(10)), 'asset')).status).toBe(201);
  });
});

describe('deletes and prunes free their bytes', () => {
  test('versions pruned past STORAGE_MAX_VERSIONS and a permanent delete take their bytes off the usage', async () => {
    const owner = 'pruner';
    const asset = (await addAsset(ctx.baseUrl, bytesOf(100), { owner_id: owner })).body;
    await addVersion(ctx.baseUrl, asset.id, bytesOf(200));
    expect(await usage(owner)).toMatchObject({ bytes_stored: 300, versions: 2 });
    await addVersion(ctx.baseUrl, asset.id, bytesOf(300));
    // The third version pushes the first past STORAGE_MAX_VERSIONS=2.
    await waitUntil('the oldest version to be pruned', async () => (await usage(owner)).versions === 2);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 500, versions: 2, assets: 1 });
    expect(await catalogSums(owner)).toMatchObject({ bytes_stored: 500, versions: 2 });

    const res = await call(url(`/assets/${asset.id}?permanent=true`), { method: 'DELETE' });
    expect([202, 204]).toContain(res.status);
    await waitUntil('the deletion to free the asset', async () => (await usage(owner)).assets === 0);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, versions: 0, assets: 0, reserved_bytes: 0 });
  });
});

describe('sweeps free their bytes', () => {
  test('a lifecycle run that expires old versions and purges a soft-deleted asset takes them off the usage', async () => {
    const owner = 'swept';
    const kept = (await addAsset(ctx.baseUrl, bytesOf(100), { owner_id: owner, name: 'swept/kept' })).body;
    await addVersion(ctx.baseUrl, kept.id, bytesOf(200));
    const gone = (await addAsset(ctx.baseUrl, bytesOf(400), { owner_id: owner, name: 'swept/gone' })).body;
    expect((await call(url(`/assets/${gone.id}`), { method: 'DELETE' })).status).toBe(204);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 700, versions: 3, assets: 2 });

    await ctx
      .db('asset_versions')
      .where({ asset_id: kept.id })
      .whereNotNull('superseded_at')
      .update({ superseded_at: new Date(Date.now() - 40 * 86_400_000) });
    await ctx
      .db('assets')
      .where({ id: gone.id })
      .update({ deleted_at: new Date(Date.now() - 40 * 86_400_000) });
    const policy = await call(url('/policies'), {
      method: 'POST',
      json: {
        name: 'quota sweep',
        filter: { name_prefix: 'swept/' },
        rules: [
          { action: 'expire_noncurrent_versions', noncurrent_days: 30 },
          { action: 'purge_deleted', days: 30 },
        ],
      },
    });
    expect(policy.status).toBe(201);
    const started = await call(url('/lifecycle/runs'), { method: 'POST', json: { policy_id: policy.body.id, dry_run: false } });
    expect(started.status).toBe(202);
    await waitUntil('the run to complete', async () => (await call(url(`/lifecycle/runs/${started.body.id}`))).body.status === 'completed');
    await waitUntil('the purge to free its asset', async () => (await usage(owner)).assets === 1);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 200, versions: 1, assets: 1, reserved_bytes: 0 });
    expect(await catalogSums(owner)).toMatchObject({ bytes_stored: 200, versions: 1, assets: 1 });
  });
});

describe('other ways in', () => {
  test('a version restore copies bytes, and is refused when they do not fit', async () => {
    const owner = 'restorer';
    expect((await setQuota(owner, { bytes: 1000 })).status).toBe(200);
    const asset = (await addAsset(ctx.baseUrl, bytesOf(600), { owner_id: owner })).body;
    const res = await call(url(`/assets/${asset.id}/versions/${asset.current_version_id}/restore`), { method: 'POST' });
    expectQuotaProblem(res, { quota: 'bytes', usage: 600, limit: 1000, owner_id: owner });
    expect(res.body.requested).toBe(600);
    expect(await usage(owner)).toMatchObject({ bytes_stored: 600, versions: 1, reserved_bytes: 0 });
  });

  test('a fetched source (service.asset.requested) that passes the quota fails its upload and leaves nothing', async () => {
    const owner = 'fetched';
    expect((await setQuota(owner, { bytes: 2000 })).status).toBe(200);
    const objectsBefore = (await objectKeys(ctx, '')).length;
    const res = await call(url('/events'), {
      method: 'POST',
      json: {
        specversion: '1.0',
        id: `quota-${Date.now()}`,
        source: 'test',
        type: 'service.asset.requested',
        data: { source_url: `${filesUrl}/f`, name: 'f', owner_id: owner },
      },
      headers: { 'content-type': 'application/cloudevents+json' },
    });
    expect(res.status).toBe(202);
    const state = (await ctx.temporal.client.workflow.getHandle(res.body.workflow_id).result()) as UploadState;
    // The run's error is read by whoever sent the event: it names the limit, not the owner's figures.
    expect(state).toMatchObject({ status: 'failed', error: '3000 more bytes would pass the bytes quota of fetched' });
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, assets: 0, reserved_bytes: 0 });
    expect((await objectKeys(ctx, '')).length).toBe(objectsBefore);
  });

  test('an owner named in the form after the file takes over the reservation, or is refused', async () => {
    const owner = 'late-named';
    expect((await setQuota(owner, { bytes: 500 })).status).toBe(200);
    const body = new FormData();
    body.append('file', new Blob([bytesOf(800)]), 'late.bin');
    body.append('owner_id', owner);
    const res = await call(url('/assets/upload'), { method: 'POST', body });
    expectQuotaProblem(res, { quota: 'bytes', usage: 0, limit: 500, owner_id: owner });
    expect(await usage(owner)).toMatchObject({ bytes_stored: 0, assets: 0, reserved_bytes: 0 });
    // The admin who sent it, provisionally charged while the file streamed, holds nothing either.
    expect(await usage('test-admin')).toMatchObject({ reserved_bytes: 0 });
  });
});

describe('PUT /quotas/{owner_id}', () => {
  test('admins only: a user and a service are 403, and nothing changes', async () => {
    for (const token of [await as('someone'), await as('svc', ['storage:service'])]) {
      const res = await call(url('/quotas/someone'), { method: 'PUT', json: { bytes: 1 << 30 }, as: token });
      expectProblem(res, 403);
    }
    expect(await ctx.db('owner_quotas').where({ owner_id: 'someone' })).toEqual([]);
  });

  test.each([
    ['a negative limit', { bytes: -1 }],
    ['a fraction', { assets: 1.5 }],
    ['text', { bytes: '10' }],
    ['an unknown field', { bytes: 10, files: 3 }],
    ['not an object', [1, 2]],
  ])('%s is 400 problem+json and changes nothing', async (_label, body) => {
    const res = await setQuota('someone-else', body as Record<string, unknown>);
    expectProblem(res, 400);
    expect(await ctx.db('owner_quotas').where({ owner_id: 'someone-else' })).toEqual([]);
  });

  test('an override replaces the defaults; null (or absent) goes back to them', async () => {
    const set = await setQuota('overridden', { bytes: 1234, assets: 7 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ owner_id: 'overridden', quota: { bytes: 1234, assets: 7 } });
    expect((await usage('overridden')).quota).toEqual({ bytes: 1234, assets: 7 });
    const back = await setQuota('overridden', { bytes: null });
    expect(back.body.quota).toEqual({ bytes: null, assets: ASSETS_PER_OWNER });
    expect(await ctx.db('owner_quotas').where({ owner_id: 'overridden' })).toEqual([]);
  });
});

describe('GET /usage', () => {
  test("a caller's own; an admin's of anyone; another's is 403 for a user or a service", async () => {
    const own = await call(url('/usage'), { as: await as('collector') });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ owner_id: 'collector', quota: { bytes: null, assets: ASSETS_PER_OWNER } });
    expect((await call(url('/usage?owner_id=collector'), { as: await as('collector') })).body).toEqual(own.body);
    expect((await call(url('/usage?owner_id=collector'))).body).toEqual(own.body);
    for (const token of [await as('racer'), await as('svc', ['storage:service'])]) {
      expectProblem(await call(url('/usage?owner_id=collector'), { as: token }), 403);
    }
    expectProblem(await call(url('/usage?owner_id=')), 400);
    expect((await call(url('/usage?owner_id=nobody-yet'))).body).toEqual({
      owner_id: 'nobody-yet',
      bytes_stored: 0,
      assets: 0,
      versions: 0,
      reserved_bytes: 0,
      quota: { bytes: null, assets: ASSETS_PER_OWNER },
    });
  });
});

describe('metrics and the catalog', () => {
  test('refusals are counted, and bytes stored are reported for the top owners only', async () => {
    const text = await (await fetch(`${ctx.baseUrl}/metrics`)).text();
    const refusals = (quota: string) => Number(new RegExp(`^storage_quota_refusals_total\\{quota="${quota}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(refusals('bytes')).toBeGreaterThanOrEqual(15 + 15 + 3);
    expect(refusals('assets')).toBeGreaterThanOrEqual(3);
    const owners = [...text.matchAll(/^storage_owner_bytes_stored\{owner_id="([^"]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]);
    expect(owners.length).toBeLessThanOrEqual(10);
    expect(owners).toContainEqual(['racer', 5000]);
  });

  test('every owner_usage row equals what the catalog sums', async () => {
    const rows = await ctx.db('owner_usage').select('*');
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) {
      const sums = await catalogSums(row.owner_id);
      expect({ owner: row.owner_id, ...sums }).toEqual({
        owner: row.owner_id,
        bytes_stored: row.bytes_stored,
        versions: row.versions,
        assets: row.assets,
        reserved_bytes: row.reserved_bytes,
      });
    }
  });
});
