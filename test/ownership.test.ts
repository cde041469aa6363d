/**
 * Who may do what (issue 13), over HTTP with real tokens: an asset's owner, a stranger (404 on every
 * route, and nothing changes), users of a group granted read or write, a service and an admin; lists
 * that show exactly the readable assets, page by page; upload sessions that belong to whom they were
 * opened for; a service creating on behalf of a user.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { tokenFor } from './support/auth';
import { bytesOf } from './support/assets';
import { settled, uniqueMarker } from './support/catalog';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';

const ctx = useTestService();
type Caller = 'alice' | 'mallory' | 'bob' | 'carol' | 'dave' | 'erin' | 'service' | 'admin';
const as = {} as Record<Caller, string>;

beforeAll(async () => {
  Object.assign(as, {
    alice: await tokenFor({ sub: 'alice' }),
    mallory: await tokenFor({ sub: 'mallory', groups: ['rogues'] }),
    // Readers and writers reach the asset through their groups, never by name.
    bob: await tokenFor({ sub: 'bob', groups: ['party'] }),
    carol: await tokenFor({ sub: 'carol', groups: ['scribes', 'party'] }),
    dave: await tokenFor({ sub: 'dave' }),
    erin: await tokenFor({ sub: 'erin' }),
    service: await tokenFor({ sub: 'campaign-service', roles: ['storage:service'] }),
    admin: await tokenFor({ sub: 'root', roles: ['storage:admin'] }),
  });
});

const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

function form(fields: Record<string, string>, file: Buffer | null = bytesOf(32)): FormData {
  const body = new FormData();
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  if (file) body.append('file', new Blob([file]), 'file.bin');
  return body;
}

/** POST /assets/upload as `token`, waiting out a 202; answers the new asset. */
async function newAsset(token: string, name: string, fields: Record<string, string> = {}): Promise<any> {
  const res = await call(url('/assets/upload'), { method: 'POST', body: form({ ...fields, name }), as: token });
  return (await settled(ctx.baseUrl, res, 'asset')).body;
}

/** What a denied request must leave as it was: every row of the catalog and every object. */
async function everything() {
  const count = async (table: string) => Number((await ctx.db(table).count({ n: '*' }))[0].n);
  const objects = await ctx.s3.send(new ListObjectsV2Command({ Bucket: ctx.config.s3.bucket }));
  const tables = ['assets', 'asset_versions', 'asset_metadata', 'asset_grants', 'upload_sessions', 'outbox_events'];
  return {
    rows: Object.fromEntries(await Promise.all(tables.map(async (t) => [t, await count(t)]))),
    revisions: await ctx.db('assets').orderBy('id').pluck('revision'),
    objects: (objects.Contents ?? []).map((o) => o.Key).sort(),
  };
}

interface Attempt {
  what: string;
  send: (token: string) => Promise<JsonAnswer>;
}

/** Every route of one asset that reads it. */
function reads(asset: { id: string; current_version_id: string }): Attempt[] {
  const a = `/assets/${asset.id}`;
  const v = `${a}/versions/${asset.current_version_id}`;
  const get = (path: string) => (token: string) => call(url(path), { as: token });
  return [
    { what: 'GET asset', send: get(a) },
    { what: 'GET asset ?include_deleted', send: get(`${a}?include_deleted=true`) },
    { what: 'GET content', send: get(`${a}/content`) },
    { what: 'GET versions', send: get(`${a}/versions`) },
    { what: 'GET version', send: get(v) },
    { what: 'GET version content', send: get(`${v}/content`) },
  ];
}

/** Every route of one asset that changes it, with a body that would succeed for its owner. */
function writes(asset: { id: string; current_version_id: string }): Attempt[] {
  const a = `/assets/${asset.id}`;
  return [
    { what: 'PUT asset', send: (token) => call(url(a), { method: 'PUT', json: { tags: ['changed'] }, as: token }) },
    { what: 'POST version', send: (token) => call(url(`${a}/versions`), { method: 'POST', body: form({}), as: token }) },
    {
      what: 'POST chunked version',
      send: (token) => call(url('/uploads'), { method: 'POST', json: { name: 'v.bin', size_bytes: 10, asset_id: asset.id }, as: token }),
    },
    ...ownerOnly(asset),
    { what: 'DELETE (soft)', send: (token) => call(url(a), { method: 'DELETE', as: token }) },
  ];
}

/** The routes that stay with the owner, services and admins whatever the grants. */
function ownerOnly(asset: { id: string; current_version_id: string }): Attempt[] {
  const a = `/assets/${asset.id}`;
  return [
    { what: 'POST version restore', send: (token) => call(url(`${a}/versions/${asset.current_version_id}/restore`), { method: 'POST', as: token }) },
    { what: 'PUT grants', send: (token) => call(url(`${a}/grants`), { method: 'PUT', json: [{ subject: 'group:rogues', access: 'write' }], as: token }) },
    { what: 'DELETE ?permanent', send: (token) => call(url(`${a}?permanent=true`), { method: 'DELETE', as: token }) },
    { what: 'POST restore', send: (token) => call(url(`${a}/restore`), { method: 'POST', as: token }) },
  ];
}

async function expectRefused(token: string, attempts: Attempt[], status: 403 | 404) {
  const before = await everything();
  for (const attempt of attempts) {
    const res = await attempt.send(token);
    expect({ what: attempt.what, status: res.status }).toEqual({ what: attempt.what, status });
    if (res.headers.get('content-type')?.includes('json')) expectProblem(res, status);
  }
  expect(await everything()).toEqual(before);
}

async function expectAllowed(token: string, attempts: Attempt[]) {
  for (const attempt of attempts) {
    const res = await attempt.send(token);
    expect({ what: attempt.what, status: res.status }).toEqual({ what: attempt.what, status: 200 });
  }
}

describe("an asset's owner, grants and everyone else", () => {
  let asset: any;

  beforeAll(async () => {
    asset = await newAsset(as.alice, uniqueMarker('shared'));
    const granted = await call(url(`/assets/${asset.id}/grants`), {
      method: 'PUT',
      json: [
        { subject: 'group:scribes', access: 'write' },
        { subject: 'group:party', access: 'read' },
      ],
      as: as.alice,
    });
    expect(granted.status).toBe(200);
    expect(granted.body).toEqual({
      grants: [
        { subject: 'group:party', access: 'read' },
        { subject: 'group:scribes', access: 'write' },
      ],
    });
  }, 60_000);

  it("a new asset is its uploader's, and its JSON says so with its grants", async () => {
    const res = await call(url(`/assets/${asset.id}`), { as: as.alice });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      owner_id: 'alice',
      grants: [
        { subject: 'group:party', access: 'read' },
        { subject: 'group:scribes', access: 'write' },
      ],
    });
    expect(await ctx.db('assets').where({ id: asset.id }).first('owner_id')).toEqual({ owner_id: 'alice' });
  });

  it('a grantee sees only the grants that name them or one of their groups; the owner, a service and an admin see them all', async () => {
    const other = await newAsset(as.alice, uniqueMarker('grants-seen'));
    const all = [
      { subject: 'group:party', access: 'read' },
      { subject: 'user:dave', access: 'write' },
      { subject: 'user:erin', access: 'read' },
    ];
    expect((await call(url(`/assets/${other.id}/grants`), { method: 'PUT', json: all, as: as.alice })).status).toBe(200);
    const seenBy = async (token: string) => (await call(url(`/assets/${other.id}`), { as: token })).body.grants;
    expect(await seenBy(as.bob)).toEqual([{ subject: 'group:party', access: 'read' }]);
    expect(await seenBy(as.erin)).toEqual([{ subject: 'user:erin', access: 'read' }]);
    expect(await seenBy(as.dave)).toEqual([{ subject: 'user:dave', access: 'write' }]);
    for (const who of ['alice', 'service', 'admin'] as const) expect(await seenBy(as[who])).toEqual(all);
    // The same in a list, and in the answer to a change a write grantee makes.
    const listed = await call(url(`/assets?name_prefix=${encodeURIComponent(other.name)}`), { as: as.bob });
    expect(listed.body.items.map((i: any) => i.grants)).toEqual([[{ subject: 'group:party', access: 'read' }]]);
    const changed = await call(url(`/assets/${other.id}`), { method: 'PUT', json: { tags: ['seen'] }, as: as.dave });
    expect(changed.body.grants).toEqual([{ subject: 'user:dave', access: 'write' }]);
  });

  it('the owner reads it by every route', async () => {
    await expectAllowed(as.alice, reads(asset));
  });

  it('a user who neither owns it nor is granted it is told it does not exist, by every route, and nothing changes', async () => {
    await expectRefused(as.mallory, [...reads(asset), ...writes(asset)], 404);
    await expectRefused(as.dave, [...reads(asset), ...writes(asset)], 404);
  }, 60_000);

  it('a user of a group granted read reads it; every write is 403 and changes nothing', async () => {
    await expectAllowed(as.bob, reads(asset));
    await expectRefused(as.bob, writes(asset), 403);
  }, 60_000);

  it('a user of a group granted write makes versions, changes metadata and soft-deletes; permanent deletion, restores and grants stay with the owner', async () => {
    // Carol is in both groups: the write grant counts.
    await expectAllowed(as.carol, reads(asset));
    const put = await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { metadata: { scribe: 'carol' } }, as: as.carol });
    expect(put.status).toBe(200);
    expect(put.body.owner_id).toBe('alice');
    const version = await settled(ctx.baseUrl, await call(url(`/assets/${asset.id}/versions`), { method: 'POST', body: form({}), as: as.carol }), 'version');
    expect(version.body.version_number).toBe(2);
    await expectRefused(as.carol, ownerOnly(asset), 403);

    expect((await call(url(`/assets/${asset.id}`), { method: 'DELETE', as: as.carol })).status).toBe(204);
    // Deleted, it is still there for whoever could read it: a restore is the owner's.
    await expectRefused(as.carol, [ownerOnly(asset)[3]], 403);
    await expectRefused(as.mallory, [ownerOnly(asset)[3]], 404);
    const restored = await call(url(`/assets/${asset.id}/restore`), { method: 'POST', as: as.alice });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ owner_id: 'alice', version_count: 2, metadata: { scribe: 'carol' } });
  }, 90_000);

  it.each(['service', 'admin'] as const)(
    'a %s reads, changes and shares it',
    async (who) => {
      await expectAllowed(as[who], reads(asset));
      const put = await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { tags: [who] }, as: as[who] });
      expect(put.status).toBe(200);
      const grants = [
        { subject: 'group:party', access: 'read' },
        { subject: 'group:scribes', access: 'write' },
        { subject: `user:${who}-friend`, access: 'read' },
      ];
      const shared = await call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json: grants, as: as[who] });
      expect(shared).toMatchObject({ status: 200, body: { grants } });
      const restore = await call(url(`/assets/${asset.id}/versions/${asset.current_version_id}/restore`), { method: 'POST', as: as[who] });
      expect((await settled(ctx.baseUrl, restore, 'version')).status).toBe(201);
    },
    60_000,
  );

  it('a grant to a user by name reaches that user only; a full replace takes it away', async () => {
    const other = await newAsset(as.alice, uniqueMarker('named'));
    const share = (grants: unknown[]) => call(url(`/assets/${other.id}/grants`), { method: 'PUT', json: grants, as: as.alice });
    expect((await share([{ subject: 'user:dave', access: 'read' }])).status).toBe(200);
    expect((await call(url(`/assets/${other.id}`), { as: as.dave })).status).toBe(200);
    expect((await call(url(`/assets/${other.id}`), { as: as.erin })).status).toBe(404);
    expect(await share([])).toMatchObject({ status: 200, body: { grants: [] } });
    expect((await call(url(`/assets/${other.id}`), { as: as.dave })).status).toBe(404);
  }, 60_000);

  it("If-Match on the grants: a revocation made since the grants were read is not written over (412, nothing changes); the answer's ETag chains", async () => {
    const other = await newAsset(as.alice, uniqueMarker('if-match-grants'));
    const grantsUrl = url(`/assets/${other.id}/grants`);
    const put = (grants: unknown[], ifMatch?: string) =>
      call(grantsUrl, { method: 'PUT', json: grants, as: as.alice, headers: ifMatch ? { 'If-Match': ifMatch } : {} });
    expect((await put([{ subject: 'user:dave', access: 'write' }])).status).toBe(200);
    // One writer reads the grants to add erin, another revokes dave meanwhile.
    const read = await call(url(`/assets/${other.id}`), { as: as.alice });
    const etag = read.headers.get('etag')!;
    expect((await put([], etag)).status).toBe(200);
    const before = await everything();
    const stale = await put([...read.body.grants, { subject: 'user:erin', access: 'read' }], etag);
    expectProblem(stale, 412);
    expect(await everything()).toEqual(before);
    expect((await call(url(`/assets/${other.id}`), { as: as.dave })).status).toBe(404);
    // Read again, the change goes through; its answer's ETag is the asset's, for the next one.
    const current = (await call(url(`/assets/${other.id}`), { as: as.alice })).headers.get('etag')!;
    const written = await put([{ subject: 'user:erin', access: 'read' }], current);
    expect(written).toMatchObject({ status: 200, body: { grants: [{ subject: 'user:erin', access: 'read' }] } });
    expect(written.headers.get('etag')).toBe((await call(url(`/assets/${other.id}`), { as: as.alice })).headers.get('etag'));
    expectProblem(await put([], current), 412);
    expect((await put([], '*')).status).toBe(200);
  }, 60_000);

  it('grants are refused when malformed (a bad subject or access); a subject named twice keeps the wider access', async () => {
    const put = (json: unknown) => call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json, as: as.alice });
    for (const bad of [
      [{ subject: 'alice', access: 'read' }],
      [{ subject: 'user:', access: 'read' }],
      [{ subject: 'user:dave', access: 'admin' }],
      { subject: 'user:dave', access: 'read' },
    ]) {
      expectProblem(await put(bad), 400);
    }
    const twice = await put([
      { subject: 'user:dave', access: 'write' },
      { subject: 'user:dave', access: 'read' },
    ]);
    expect(twice.status).toBe(200);
    expect(twice.body.grants).toEqual([{ subject: 'user:dave', access: 'write' }]);
    expect((await put([])).status).toBe(200);
  });

  it("the owner deletes it for good; an admin may delete anyone's", async () => {
    const mine = await newAsset(as.alice, uniqueMarker('gone'));
    const theirs = await newAsset(as.erin, uniqueMarker('gone'));
    for (const [token, id] of [
      [as.alice, mine.id],
      [as.admin, theirs.id],
    ]) {
      const res = await call(url(`/assets/${id}?permanent=true`), { method: 'DELETE', as: token });
      expect([202, 204]).toContain(res.status);
      if (res.status === 202) await ctx.temporal.client.workflow.getHandle(res.body.workflow_id).result();
      expect(await ctx.db('assets').where({ id })).toEqual([]);
    }
  }, 90_000);
});

describe('lists', () => {
  const m = uniqueMarker('list');
  const made: Record<string, any> = {};

  beforeAll(async () => {
    for (const [who, name] of [
      ['alice', 'a1'],
      ['bob', 'b1'],
      ['alice', 'a2'],
      ['erin', 'e1'],
      ['alice', 'a3'],
      ['bob', 'b2'],
    ] as const) {
      made[name] = await newAsset(as[who], `${m} ${name}`);
    }
    const share = (id: string, grants: unknown[]) => call(url(`/assets/${id}/grants`), { method: 'PUT', json: grants, as: as.alice });
    await share(made.a1.id, [{ subject: 'group:party', access: 'read' }]);
    await share(made.a3.id, [
      { subject: 'user:bob', access: 'write' },
      { subject: 'group:party', access: 'read' },
    ]);
    expect((await call(url(`/assets/${made.b2.id}`), { method: 'DELETE', as: as.bob })).status).toBe(204);
  }, 120_000);

  /** Every page of the list as `token`, `limit` at a time. */
  async function listAs(token: string, query: Record<string, string>, limit: number): Promise<string[]> {
    const names: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const params = new URLSearchParams({ ...query, name_prefix: `${m} `, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const res = await call(`${url('/assets')}?${params}`, { as: token });
      expect(res.status).toBe(200);
      // A page is never short but the last: filtering happens in SQL, before the limit.
      if (res.body.next_cursor) expect(res.body.items).toHaveLength(limit);
      names.push(...res.body.items.map((i: any) => i.name.slice(m.length + 1)));
      if (!res.body.next_cursor) return names;
      cursor = res.body.next_cursor;
    }
    throw new Error('the list did not end');
  }

  it.each([1, 2, 50])(
    'show each caller exactly what they may read, %i at a time',
    async (limit) => {
      const byName = { sort: 'name' };
      expect(await listAs(as.alice, byName, limit)).toEqual(['a1', 'a2', 'a3']);
      // Bob's own, a1 through his group, a3 by name and through his group (once).
      expect(await listAs(as.bob, byName, limit)).toEqual(['a1', 'a3', 'b1']);
      expect(await listAs(as.bob, { ...byName, include_deleted: 'true' }, limit)).toEqual(['a1', 'a3', 'b1', 'b2']);
      expect(await listAs(as.carol, byName, limit)).toEqual(['a1', 'a3']);
      expect(await listAs(as.erin, { sort: 'created_at' }, limit)).toEqual(['e1']);
      expect(await listAs(as.mallory, byName, limit)).toEqual([]);
      for (const who of ['service', 'admin'] as const) {
        expect(await listAs(as[who], { sort: '-created_at' }, limit)).toEqual(['a3', 'e1', 'a2', 'b1', 'a1']);
      }
    },
    60_000,
  );
});

describe('creating for an owner', () => {
  it('a service makes an asset for the user named by owner_id, who then owns it', async () => {
    const made = await newAsset(as.service, uniqueMarker('for-erin'), { owner_id: 'erin' });
    expect(made.owner_id).toBe('erin');
    expect((await call(url(`/assets/${made.id}`), { as: as.erin })).status).toBe(200);
    expect((await call(url(`/assets/${made.id}`), { as: as.alice })).status).toBe(404);
    const own = await newAsset(as.service, uniqueMarker('for-itself'));
    expect(own.owner_id).toBe('campaign-service');
  }, 60_000);

  it('a user may name themself as owner_id, but nobody else: 403, and nothing is made', async () => {
    expect((await newAsset(as.alice, uniqueMarker('self'), { owner_id: 'alice' })).owner_id).toBe('alice');
    const before = await everything();
    const simple = await call(url('/assets/upload'), { method: 'POST', body: form({ name: 'x', owner_id: 'erin' }), as: as.alice });
    expectProblem(simple, 403);
    const chunked = await call(url('/uploads'), { method: 'POST', json: { name: 'x', size_bytes: 10, owner_id: 'erin' }, as: as.alice });
    expectProblem(chunked, 403);
    expect(await everything()).toEqual(before);
  }, 60_000);

  it('owner_id after the file still names the owner; it is refused with a new version', async () => {
    const late = new FormData();
    late.append('file', new Blob([bytesOf(8)]), 'late.bin');
    late.append('owner_id', 'erin');
    const res = await call(url('/assets/upload'), { method: 'POST', body: late, as: as.service });
    expect(res.status).toBe(201);
    expect(res.body.owner_id).toBe('erin');
    expect((await call(url(`/assets/${res.body.id}`), { as: as.erin })).status).toBe(200);
    const lateForAlice = new FormData();
    lateForAlice.append('file', new Blob([bytesOf(8)]), 'late.bin');
    lateForAlice.append('owner_id', 'erin');
    expectProblem(await call(url('/assets/upload'), { method: 'POST', body: lateForAlice, as: as.alice }), 403);
    const asset = await newAsset(as.alice, uniqueMarker('keeps'));
    const version = await call(url(`/assets/${asset.id}/versions`), { method: 'POST', body: form({ owner_id: 'alice' }), as: as.alice });
    expectProblem(version, 400);
    const chunked = await call(url('/uploads'), { method: 'POST', json: { name: 'x', size_bytes: 10, asset_id: asset.id, owner_id: 'alice' }, as: as.alice });
    expectProblem(chunked, 400);
  }, 60_000);
});

describe('upload sessions', () => {
  const part = bytesOf(10);

  it("belong to whoever opened them: another user's is 404 by every route, and nothing changes", async () => {
    const opened = await call(url('/uploads'), { method: 'POST', json: { name: uniqueMarker('session'), size_bytes: 10 }, as: as.alice });
    expect(opened.status).toBe(201);
    const id = opened.body.id;
    const s = `/uploads/${id}`;
    const attempts: Attempt[] = [
      { what: 'GET session', send: (token) => call(url(s), { as: token }) },
      {
        what: 'PUT part',
        send: (token) => call(url(`${s}/parts/1`), { method: 'PUT', body: part, headers: { 'content-type': 'application/octet-stream' }, as: token }),
      },
      { what: 'POST part url', send: (token) => call(url(`${s}/parts/1/url`), { method: 'POST', as: token }) },
      { what: 'POST complete', send: (token) => call(url(`${s}/complete`), { method: 'POST', as: token }) },
      { what: 'DELETE session', send: (token) => call(url(s), { method: 'DELETE', as: token }) },
    ];
    await expectRefused(as.mallory, attempts, 404);

    expect((await call(url(s), { as: as.service })).status).toBe(200);
    expect((await attempts[1].send(as.alice)).status).toBe(200);
    const done = await call(url(`${s}/complete`), { method: 'POST', as: as.alice });
    expect(done.status).toBe(200);
    expect(done.body.asset.owner_id).toBe('alice');
  }, 60_000);

  it('a service opens one for a user: the asset it makes is theirs, and the session is theirs to follow', async () => {
    const opened = await call(url('/uploads'), { method: 'POST', json: { name: uniqueMarker('for-erin'), size_bytes: 10, owner_id: 'erin' }, as: as.service });
    expect(opened.status).toBe(201);
    const s = `/uploads/${opened.body.id}`;
    expect((await call(url(s), { as: as.erin })).status).toBe(200);
    expect((await call(url(s), { as: as.alice })).status).toBe(404);
    expect(
      (await call(url(`${s}/parts/1`), { method: 'PUT', body: part, headers: { 'content-type': 'application/octet-stream' }, as: as.service })).status,
    ).toBe(200);
    const done = await call(url(`${s}/complete`), { method: 'POST', as: as.service });
    expect(done.status).toBe(200);
    expect(done.body.asset.owner_id).toBe('erin');
  }, 60_000);
});
