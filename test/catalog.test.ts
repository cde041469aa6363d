/**
 * The catalog over HTTP: listing with every filter, sort and cursor the OpenAPI document names; one asset's GET, PUT
 * (with If-Match), soft delete, restore and permanent delete; versions (list, restore, pruning past
 * STORAGE_MAX_VERSIONS, numbering under concurrent uploads); and the outbox rows each change writes.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { createUploadActivities } from '../activities/uploads/uploads';
import type { ActivityDeps } from '../activities/deps';
import type { UploadInput } from '../workflows/uploads/definitions';
import { waitUntil } from './support/processes';
import { bytesOf, download, sha256 } from './support/assets';
import {
  addAsset,
  addVersion,
  listAll,
  listPage,
  listUrl,
  objectKeys,
  outboxEvents,
  postVersion,
  settled,
  settledSession,
  uniqueMarker,
} from './support/catalog';
import { tokenFor } from './support/auth';
import { PART, createUpload, getUpload, openMultipartKeys, putPart } from './support/chunked';
import { useTestService } from './support/context';
import { call, expectProblem } from './support/http';

const UNKNOWN_ID = '0190a000-0000-7000-8000-000000000000';

const ctx = useTestService();

function assetUrl(id: string, suffix = ''): string {
  return `${ctx.baseUrl}/api/v2/assets/${id}${suffix}`;
}

/** Uploads one small asset and returns its JSON (following a 202 to the end); throws unless it is made. */
async function newAsset(name: string, fields: { content_type?: string; tags?: string | string[]; metadata?: string } = {}, file = bytesOf(64)) {
  const given = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  return (await addAsset(ctx.baseUrl, file, { name, ...given })).body;
}

function names(items: Array<{ name: string }>): string[] {
  return items.map((i) => i.name);
}

describe('listing filters', () => {
  const m = uniqueMarker('filter');
  // Uploaded in this order (so created_at grows in it). The LIKE wildcards: a1 and a2 would match
  // `<m> 100%_` if % or _ were taken as wildcards.
  const specs = [
    { name: `${m} 100%_off.png`, content_type: 'image/png', tags: [`${m}-red`, `${m}-big`] },
    { name: `${m} 100abc_off.jpg`, content_type: 'image/jpeg', tags: [`${m}-red`] },
    { name: `${m} 100%Xoff.txt`, content_type: 'text/plain', tags: [`${m}-big`] },
    { name: `${m} dragon.svg`, content_type: 'image/svg+xml', tags: [`${m}-red`, `${m}-big`, `${m}-blue`] },
    { name: `${m} zombie.bin`, content_type: 'imagery/x-test', tags: [] as string[] },
  ];
  const assets: any[] = [];

  beforeAll(async () => {
    for (const [i, spec] of specs.entries()) {
      // Tags both ways the form allows: comma-separated, and the field repeated.
      const tags = i % 2 === 0 ? spec.tags.join(',') : spec.tags;
      assets.push(await newAsset(spec.name, { content_type: spec.content_type, tags: spec.tags.length ? tags : undefined }));
    }
  }, 120_000);

  const ids = (items: Array<{ id: string }>) => items.map((i) => i.id);
  const pick = (...indexes: number[]) => indexes.map((i) => assets[i].id);

  it('name_prefix matches a prefix, taking % and _ literally', async () => {
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} `, sort: 'created_at' }))).toEqual(pick(0, 1, 2, 3, 4));
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} 100`, sort: 'created_at' }))).toEqual(pick(0, 1, 2));
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} 100%`, sort: 'created_at' }))).toEqual(pick(0, 2));
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} 100%_`, sort: 'created_at' }))).toEqual(pick(0));
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} 100_` }))).toEqual([]);
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} 100%_off.png` }))).toEqual(pick(0));
  });

  it('name_prefix takes a backslash literally too', async () => {
    const slashed = await newAsset(`${m}\\back\\slash`);
    await newAsset(`${m}\\backXslash`);
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m}\\back\\` }))).toEqual([slashed.id]);
    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m}\\back\\slash` }))).toEqual([slashed.id]);
  });

  it('content_type matches exactly, or a whole type with type/*', async () => {
    const scoped = { name_prefix: `${m} `, sort: 'created_at' };
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, content_type: 'image/png' }))).toEqual(pick(0));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, content_type: 'text/plain' }))).toEqual(pick(2));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, content_type: 'image/*' }))).toEqual(pick(0, 1, 3));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, content_type: 'imagery/*' }))).toEqual(pick(4));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, content_type: 'image/gif' }))).toEqual([]);
  });

  it('tag, repeated, keeps the assets that carry every one', async () => {
    const scoped = { sort: 'created_at' };
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, tag: `${m}-red` }))).toEqual(pick(0, 1, 3));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, tag: [`${m}-red`, `${m}-big`] }))).toEqual(pick(0, 3));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, tag: [`${m}-red`, `${m}-big`, `${m}-blue`] }))).toEqual(pick(3));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, tag: [`${m}-big`, `${m}-nope`] }))).toEqual([]);
    // Combined with the other filters.
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, tag: `${m}-big`, content_type: 'image/*' }))).toEqual(pick(0, 3));
  });

  it('the tags an upload was given are stored as a list, whichever way the form sent them', () => {
    for (const [i, spec] of specs.entries()) expect(assets[i].tags).toEqual(spec.tags);
  });

  it('created_after and created_before are strict bounds, at the precision the API shows', async () => {
    const scoped = { name_prefix: `${m} `, sort: 'created_at' };
    const created = assets.map((a) => Date.parse(a.created_at));
    for (let i = 1; i < created.length; i++) expect(created[i]).toBeGreaterThanOrEqual(created[i - 1]);

    expect(ids(await listAll(ctx.baseUrl, { ...scoped, created_after: assets[1].created_at }))).toEqual(pick(2, 3, 4));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, created_before: assets[3].created_at }))).toEqual(pick(0, 1, 2));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, created_after: assets[1].created_at, created_before: assets[3].created_at }))).toEqual(pick(2));
    // A bound between two assets, and one with an offset rather than Z.
    const between = new Date((created[2] + created[3]) / 2);
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, created_after: between.toISOString() }))).toEqual(pick(3, 4));
    const offset = new Date(created[0] - 1).toISOString().replace('Z', '+00:00');
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, created_after: offset }))).toEqual(pick(0, 1, 2, 3, 4));
  });

  it('sort: -created_at by default, created_at, and name', async () => {
    const scoped = { name_prefix: `${m} ` };
    expect(ids(await listAll(ctx.baseUrl, scoped))).toEqual(pick(4, 3, 2, 1, 0));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, sort: '-created_at' }))).toEqual(pick(4, 3, 2, 1, 0));
    expect(ids(await listAll(ctx.baseUrl, { ...scoped, sort: 'created_at' }))).toEqual(pick(0, 1, 2, 3, 4));
    // Names that differ only after the shared part sort the same in every collation: d < z, and the 100s first.
    const byName = names(await listAll(ctx.baseUrl, { ...scoped, sort: 'name' }));
    expect(byName.slice(3)).toEqual([specs[3].name, specs[4].name]);
    expect(byName.slice(0, 3).sort()).toEqual([specs[0].name, specs[1].name, specs[2].name].sort());
  });

  it('include_deleted shows soft-deleted assets, flagged; without it they are hidden', async () => {
    const gone = await newAsset(`${m} zz-deleted`, { tags: `${m}-red` });
    expect((await call(assetUrl(gone.id), { method: 'DELETE' })).status).toBe(204);

    expect(ids(await listAll(ctx.baseUrl, { name_prefix: `${m} zz` }))).toEqual([]);
    expect(ids(await listAll(ctx.baseUrl, { tag: `${m}-red`, include_deleted: 'false', sort: 'created_at' }))).toEqual(pick(0, 1, 3));
    const all = await listAll(ctx.baseUrl, { name_prefix: `${m} zz`, include_deleted: 'true' });
    expect(ids(all)).toEqual([gone.id]);
    expect(all[0]).toMatchObject({ is_deleted: true, deleted_at: expect.any(String) });
    expect(ids(await listAll(ctx.baseUrl, { tag: `${m}-red`, include_deleted: 'true', sort: 'created_at' }))).toEqual([...pick(0, 1, 3), gone.id]);
  });

  it('bad filter values and unknown parameters are 400 naming the parameter', async () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ sort: 'size' }, 'sort'],
      [{ content_type: 'image' }, 'content_type'],
      [{ created_after: 'yesterday' }, 'created_after'],
      [{ created_before: '2026-13-45T00:00:00Z' }, 'created_before'],
      [{ include_deleted: 'maybe' }, 'include_deleted'],
      [{ name_prefix: '' }, 'name_prefix'],
    ];
    for (const [query, path] of cases) {
      const res = await call(listUrl(ctx.baseUrl, query));
      expectProblem(res, 400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    expectProblem(await call(listUrl(ctx.baseUrl, { colour: 'red' })), 400);
  });
});

describe('cursor pagination', () => {
  const m = uniqueMarker('page');
  // Upload order differs from name order, so each sort gives its own sequence.
  const creatures = ['ettin', 'aboleth', 'drow', 'beholder', 'cyclops'];
  const original: any[] = [];

  beforeAll(async () => {
    for (const c of creatures) original.push(await newAsset(`${m} ${c}`, { tags: `${m}-orig` }));
  }, 120_000);

  const expectedOrder: Record<string, () => string[]> = {
    '-created_at': () => [...original].reverse().map((a) => a.id),
    created_at: () => original.map((a) => a.id),
    name: () => [...original].sort((a, b) => (a.name < b.name ? -1 : 1)).map((a) => a.id),
  };

  it.each(['-created_at', 'created_at', 'name'])('limit 2 over 5 assets, sort %s: 2 + 2 + 1, each once, in order', async (sort) => {
    const pages: any[][] = [];
    let cursor: string | undefined;
    do {
      const page = await listPage(ctx.baseUrl, { tag: `${m}-orig`, sort, limit: '2', cursor });
      pages.push(page.items);
      cursor = page.next_cursor ?? undefined;
      expect(pages.length).toBeLessThanOrEqual(3);
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat().map((a) => a.id)).toEqual(expectedOrder[sort]());
  });

  it('a page of exactly the rest has no next cursor', async () => {
    const page = await listPage(ctx.baseUrl, { tag: `${m}-orig`, limit: '5' });
    expect(page.items).toHaveLength(5);
    expect(page.next_cursor).toBeNull();
    const first = await listPage(ctx.baseUrl, { tag: `${m}-orig`, limit: '4' });
    expect(first.next_cursor).toEqual(expect.any(String));
    const rest = await listPage(ctx.baseUrl, { tag: `${m}-orig`, limit: '4', cursor: first.next_cursor! });
    expect(rest.items.map((a: any) => a.id)).toEqual([original[0].id]);
    expect(rest.next_cursor).toBeNull();
  });

  it.each([
    ['-created_at', 0],
    ['created_at', 1],
    ['name', 2],
  ])(
    'assets added between page requests (sort %s): none of the earlier ones is duplicated or skipped',
    async (sort, sortIndex) => {
      const seen: string[] = [];
      const added: string[] = [];
      let cursor: string | undefined;
      let round = 0;
      do {
        const page = await listPage(ctx.baseUrl, { name_prefix: `${m} `, sort, limit: '2', cursor });
        seen.push(...page.items.map((a: any) => a.id));
        cursor = page.next_cursor ?? undefined;
        // In the first rounds, one new asset that sorts first by name (digits before letters in
        // every collation), one that sorts last; by creation time both are the newest.
        if (round < 3) {
          added.push((await newAsset(`${m} 0new${sortIndex}x${round}`)).id);
          added.push((await newAsset(`${m} zznew${sortIndex}x${round}`)).id);
        }
        round++;
        expect(round).toBeLessThan(40);
      } while (cursor);

      expect(new Set(seen).size).toBe(seen.length);
      const existedBefore = new Set(seen.filter((id) => !added.includes(id)));
      // Every asset there was before the first page was requested, once, in the sort's order.
      const before = await listAll(ctx.baseUrl, { name_prefix: `${m} `, sort });
      const expected = before.map((a) => a.id).filter((id) => !added.includes(id));
      expect(seen.filter((id) => existedBefore.has(id))).toEqual(expected);
      for (const a of original) expect(seen).toContain(a.id);
    },
    120_000,
  );

  it.each(['0', '-1', '2.5', 'ten', ''])('limit=%p is 400', async (limit) => {
    const res = await call(`${listUrl(ctx.baseUrl)}?limit=${encodeURIComponent(limit)}`);
    expectProblem(res, 400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('limit');
  });

  it('assets of the same name page by id: each once with sort=name', async () => {
    const same: string[] = [];
    for (let i = 0; i < 3; i++) same.push((await newAsset(`${m} mimic`, { tags: `${m}-same` })).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listPage(ctx.baseUrl, { tag: `${m}-same`, sort: 'name', limit: '1', cursor });
      seen.push(...page.items.map((a: any) => a.id));
      cursor = page.next_cursor ?? undefined;
      expect(seen.length).toBeLessThanOrEqual(3);
    } while (cursor);
    expect(seen).toEqual([...same].sort());
  });

  it('limit=1 and limit=1000 are accepted', async () => {
    expect((await listPage(ctx.baseUrl, { tag: `${m}-orig`, limit: '1' })).items).toHaveLength(1);
    expect((await listPage(ctx.baseUrl, { tag: `${m}-orig`, limit: '1000' })).items).toHaveLength(5);
  });

  it('a cursor that is not one the list handed out is 400', async () => {
    const garbage = ['not a cursor', 'bm90LWpzb24', Buffer.from('{"x":1}').toString('base64url'), Buffer.from('[1,2]').toString('base64url')];
    for (const cursor of garbage) {
      const res = await call(listUrl(ctx.baseUrl, { cursor }));
      expectProblem(res, 400);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('cursor');
    }
    // The right shape, with values no list hands out.
    const forged = [
      { s: '-created_at', k: 'not a time', id: original[0].id },
      { s: '-created_at', k: original[0].created_at, id: 'not-a-uuid' },
      { s: 'name', k: 'x', id: 42 },
    ];
    for (const position of forged) {
      const res = await call(listUrl(ctx.baseUrl, { sort: position.s, cursor: Buffer.from(JSON.stringify(position)).toString('base64url') }));
      expectProblem(res, 400);
    }
    // A real cursor, handed out for another sort.
    const byName = await listPage(ctx.baseUrl, { tag: `${m}-orig`, sort: 'name', limit: '2' });
    expect(byName.next_cursor).toEqual(expect.any(String));
    expectProblem(await call(listUrl(ctx.baseUrl, { tag: `${m}-orig`, sort: 'created_at', cursor: byName.next_cursor! })), 400);
  });
});

describe('one asset', () => {
  it('GET answers the asset with an ETag; 404 for an unknown id; 400 for a malformed one', async () => {
    const file = bytesOf(321);
    const created = await newAsset(uniqueMarker('one'), { content_type: 'image/webp', metadata: '{"campaign":"Tomb"}', tags: 'a,b' }, file);
    const res = await call(assetUrl(created.id));
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(res.body).toEqual({
      id: created.id,
      name: created.name,
      content_type: 'image/webp',
      size_bytes: 321,
      checksum_sha256: sha256(file),
      current_version_id: expect.any(String),
      version_count: 1,
      metadata: { campaign: 'Tomb' },
      tags: ['a', 'b'],
      owner_id: 'test-admin',
      grants: [],
      is_deleted: false,
      deleted_at: null,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      updated_at: expect.any(String),
    });

    const unknown = await call(assetUrl(UNKNOWN_ID));
    expectProblem(unknown, 404);
    const malformed = await call(assetUrl('not-a-uuid'));
    expectProblem(malformed, 400);
    expect(malformed.body.errors.map((e: { path: string }) => e.path)).toContain('id');
  });

  it('the upload wrote storage.asset.created and storage.version.created', async () => {
    const created = await newAsset(uniqueMarker('events'));
    const events = await outboxEvents(ctx, created.id);
    expect(events.map((e) => e.type)).toEqual(['storage.asset.created', 'storage.version.created']);
    expect(events[1].data).toMatchObject({ asset_id: created.id, version_id: created.current_version_id, version_number: 1 });
  });
});

describe('PUT /assets/{id}', () => {
  let asset: any;
  beforeAll(async () => {
    asset = await newAsset(uniqueMarker('put'), { content_type: 'text/plain', metadata: '{"a":"1","b":"2"}', tags: 'x,y' });
  });

  it('replaces the given fields and keeps the others, without If-Match', async () => {
    const res = await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'Renamed – ü.txt', metadata: { c: '3' }, tags: ['z'] } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: asset.id, name: 'Renamed – ü.txt', metadata: { c: '3' }, tags: ['z'], content_type: 'text/plain', size_bytes: 64 });
    expect(res.headers.get('etag')).toBeTruthy();
    const got = await call(assetUrl(asset.id));
    expect(got.body).toMatchObject({ name: 'Renamed – ü.txt', metadata: { c: '3' }, tags: ['z'], content_type: 'text/plain' });
    expect(Date.parse(got.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(asset.updated_at));

    const ct = await call(assetUrl(asset.id), { method: 'PUT', json: { content_type: 'text/markdown' } });
    expect(ct.status).toBe(200);
    expect(ct.body).toMatchObject({ content_type: 'text/markdown', name: 'Renamed – ü.txt', metadata: { c: '3' }, tags: ['z'] });

    // Empty metadata and tags are values too: they clear.
    const cleared = await call(assetUrl(asset.id), { method: 'PUT', json: { metadata: {}, tags: [] } });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ metadata: {}, tags: [] });
  });

  it("If-Match: the GET's ETag works; a stale one is 412 and changes nothing", async () => {
    const read = await call(assetUrl(asset.id));
    const etag = read.headers.get('etag')!;
    expect(etag).toBeTruthy();

    const ok = await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'first writer' }, headers: { 'If-Match': etag } });
    expect(ok.status).toBe(200);
    const newEtag = ok.headers.get('etag')!;
    expect(newEtag).not.toBe(etag);

    const stale = await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'second writer' }, headers: { 'If-Match': etag } });
    expectProblem(stale, 412);
    expect((await call(assetUrl(asset.id))).body.name).toBe('first writer');

    // The ETag the PUT answered is the current one, as a GET's would be.
    expect((await call(assetUrl(asset.id))).headers.get('etag')).toBe(newEtag);
    const again = await call(assetUrl(asset.id), { method: 'PUT', json: { tags: ['t'] }, headers: { 'If-Match': newEtag } });
    expect(again.status).toBe(200);
    expect(again.body.tags).toEqual(['t']);

    // A list that holds the current tag matches, as does *.
    const current = again.headers.get('etag')!;
    expect((await call(assetUrl(asset.id), { method: 'PUT', json: { tags: ['u'] }, headers: { 'If-Match': `"nope", ${current}` } })).status).toBe(200);
    expect((await call(assetUrl(asset.id), { method: 'PUT', json: { tags: ['v'] }, headers: { 'If-Match': '*' } })).status).toBe(200);
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', json: { tags: ['w'] }, headers: { 'If-Match': '"r999999"' } }), 412);
  });

  it('two writers with the same If-Match at once: one wins, the other is 412', async () => {
    const etag = (await call(assetUrl(asset.id))).headers.get('etag')!;
    const answers = await Promise.all(
      ['writer A', 'writer B', 'writer C'].map((name) => call(assetUrl(asset.id), { method: 'PUT', json: { name }, headers: { 'If-Match': etag } })),
    );
    expect(answers.map((r) => r.status).sort()).toEqual([200, 412, 412]);
    const winner = answers.find((r) => r.status === 200)!;
    expect((await call(assetUrl(asset.id))).body.name).toBe(winner.body.name);
  });

  it('If-Match compares strongly: a weak tag never matches', async () => {
    const etag = (await call(assetUrl(asset.id))).headers.get('etag')!;
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'weak' }, headers: { 'If-Match': `W/${etag}` } }), 412);
    expect((await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'strong' }, headers: { 'If-Match': etag } })).status).toBe(200);
  });

  it('a body that is not JSON is 415, and changes nothing', async () => {
    const before = await call(assetUrl(asset.id));
    const res = await call(assetUrl(asset.id), { method: 'PUT', body: JSON.stringify({ name: 'as text' }), headers: { 'content-type': 'text/plain' } });
    expectProblem(res, 415);
    const after = await call(assetUrl(asset.id));
    expect(after.body.name).toBe(before.body.name);
    expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
  });

  it('a new version changes the ETag too (If-Match guards against it)', async () => {
    const read = await call(assetUrl(asset.id));
    const etag = read.headers.get('etag')!;
    await addVersion(ctx.baseUrl, asset.id, bytesOf(10));
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'late' }, headers: { 'If-Match': etag } }), 412);
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'a\u0000b' }, 'name'],
    [{ name: 42 }, 'name'],
    [{ content_type: 'not a type' }, 'content_type'],
    [{ metadata: { level: 5 } }, 'metadata.level'],
    [{ metadata: ['a'] }, 'metadata'],
    [{ tags: 'x' }, 'tags'],
    [{ tags: ['a,b'] }, 'tags[0]'],
  ])('an invalid body %j is 400 with an errors entry at %p', async (json, path) => {
    const res = await call(assetUrl(asset.id), { method: 'PUT', json });
    expectProblem(res, 400);
    expect(res.body.errors.length).toBeGreaterThan(0);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    for (const e of res.body.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) });
  });

  it('unknown fields and malformed JSON are 400', async () => {
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', json: { size_bytes: 1 } }), 400);
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', body: '{"name":', headers: { 'content-type': 'application/json' } }), 400);
  });

  it('an unknown id is 404, a malformed one 400', async () => {
    expectProblem(await call(assetUrl(UNKNOWN_ID), { method: 'PUT', json: { name: 'x' } }), 404);
    expectProblem(await call(assetUrl('123'), { method: 'PUT', json: { name: 'x' } }), 400);
  });

  it('each PUT wrote storage.asset.updated', async () => {
    const fresh = await newAsset(uniqueMarker('put-event'));
    expect((await call(assetUrl(fresh.id), { method: 'PUT', json: { tags: ['q'] } })).status).toBe(200);
    expect((await call(assetUrl(fresh.id), { method: 'PUT', json: { name: 'q' }, headers: { 'If-Match': '"stale"' } })).status).toBe(412);
    const types = (await outboxEvents(ctx, fresh.id)).map((e) => e.type);
    expect(types).toEqual(['storage.asset.created', 'storage.version.created', 'storage.asset.updated']);
  });
});

describe('soft delete and restore', () => {
  it('204, then hidden (GET 404, list), visible with include_deleted; restore brings it back', async () => {
    const m = uniqueMarker('soft');
    const asset = await newAsset(`${m} phylactery`);
    const del = await call(assetUrl(asset.id), { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(del.body).toBe('');

    expectProblem(await call(assetUrl(asset.id)), 404);
    const withDeleted = await call(`${assetUrl(asset.id)}?include_deleted=true`);
    expect(withDeleted.status).toBe(200);
    expect(withDeleted.body).toMatchObject({ id: asset.id, is_deleted: true, deleted_at: expect.any(String) });
    expect(await listAll(ctx.baseUrl, { name_prefix: m })).toEqual([]);
    expect((await call(`${assetUrl(asset.id)}?include_deleted=false`)).status).toBe(404);

    // Not deletable twice, nor editable, nor given new versions while deleted.
    expectProblem(await call(assetUrl(asset.id), { method: 'DELETE' }), 404);
    expectProblem(await call(assetUrl(asset.id), { method: 'PUT', json: { name: 'x' } }), 404);
    expect((await postVersion(ctx.baseUrl, asset.id, bytesOf(10))).status).toBe(404);
    expect((await call(assetUrl(asset.id, '/versions'))).status).toBe(404);

    const restored = await call(assetUrl(asset.id, '/restore'), { method: 'POST' });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ id: asset.id, is_deleted: false, deleted_at: null, name: `${m} phylactery` });
    expect((await call(assetUrl(asset.id))).status).toBe(200);
    expect((await listAll(ctx.baseUrl, { name_prefix: m })).map((a) => a.id)).toEqual([asset.id]);
    const content = await download(assetUrl(asset.id, '/content'));
    expect(content.status).toBe(200);

    const types = (await outboxEvents(ctx, asset.id)).map((e) => e.type);
    expect(types.slice(0, 3)).toEqual(['storage.asset.created', 'storage.version.created', 'storage.asset.deleted']);
    expect(types.filter((t) => t === 'storage.asset.deleted')).toHaveLength(1);
  });

  it('DELETE and restore of an unknown id are 404, of a malformed one 400', async () => {
    expectProblem(await call(assetUrl(UNKNOWN_ID), { method: 'DELETE' }), 404);
    expectProblem(await call(assetUrl(UNKNOWN_ID, '/restore'), { method: 'POST' }), 404);
    expectProblem(await call(assetUrl('zzz'), { method: 'DELETE' }), 400);
    expectProblem(await call(assetUrl('zzz', '/restore'), { method: 'POST' }), 400);
  });
});

describe('permanent delete', () => {
  async function deletePermanently(id: string) {
    const res = await call(`${assetUrl(id)}?permanent=true`, { method: 'DELETE' });
    expect([202, 204]).toContain(res.status);
    if (res.status === 202) {
      expect(res.body.workflow_id).toEqual(expect.any(String));
      const gone = await waitUntil(
        'the asset to be gone',
        async () => {
          const read = await call(`${assetUrl(id)}?include_deleted=true`);
          return read.status === 404 && read;
        },
        30_000,
        200,
      );
      expect(gone.status).toBe(404);
    }
  }

  it("removes every version's bytes and rows", async () => {
    const asset = await newAsset(uniqueMarker('perm'), { metadata: '{"player":"Ireena"}' });
    await addVersion(ctx.baseUrl, asset.id, bytesOf(100));
    expect(await objectKeys(ctx, `assets/${asset.id}/`)).toHaveLength(2);

    await deletePermanently(asset.id);
    expectProblem(await call(`${assetUrl(asset.id)}?include_deleted=true`), 404);
    expect(await objectKeys(ctx, `assets/${asset.id}/`)).toEqual([]);
    expect((await download(assetUrl(asset.id, '/content'))).status).toBe(404);
    expect((await call(assetUrl(asset.id, `/versions/${asset.current_version_id}`))).status).toBe(404);
    expect(await ctx.db('asset_versions').where({ asset_id: asset.id })).toEqual([]);
    expect(await ctx.db('asset_metadata').where({ asset_id: asset.id })).toEqual([]);
    // Upload sessions hold the asset's name and metadata: the one that created the asset goes too.
    expect(await ctx.db('upload_sessions').where({ result_asset_id: asset.id }).select('id', 'kind', 'asset_id')).toEqual([]);

    const deleted = (await outboxEvents(ctx, asset.id)).filter((e) => e.type === 'storage.asset.deleted');
    expect(deleted).toHaveLength(1);
    expect(deleted[0].data).toMatchObject({ asset_id: asset.id, permanent: true });
  });

  it('also of a soft-deleted asset; an unknown id is 404', async () => {
    const asset = await newAsset(uniqueMarker('perm-soft'));
    expect((await call(assetUrl(asset.id), { method: 'DELETE' })).status).toBe(204);
    await deletePermanently(asset.id);
    expect((await call(`${assetUrl(asset.id)}?include_deleted=true`)).status).toBe(404);
    expect(await objectKeys(ctx, `assets/${asset.id}/`)).toEqual([]);
    expectProblem(await call(`${assetUrl(UNKNOWN_ID)}?permanent=true`, { method: 'DELETE' }), 404);
    expectProblem(await call(`${assetUrl(asset.id)}?permanent=yes`, { method: 'DELETE' }), 400);
  });

  it('ends an open upload of a new version: its multipart upload is aborted and its run ends', async () => {
    const asset = await newAsset(uniqueMarker('perm-open'));
    const session = await createUpload(ctx.baseUrl, { name: 'next.bin', size_bytes: 2 * PART, part_size_bytes: PART, asset_id: asset.id });
    expect(session.status).toBe(201);
    expect((await putPart(ctx.baseUrl, session.body.id, 1, bytesOf(PART))).status).toBe(200);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${asset.id}/`)).toHaveLength(1);

    await deletePermanently(asset.id);
    expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${asset.id}/`)).toEqual([]);
    expect(await ctx.temporal.client.workflow.getHandle(session.body.workflow_id).result()).toMatchObject({ status: 'aborted' });
    expectProblem(await getUpload(ctx.baseUrl, session.body.id), 404);
  });

  // The fuzzer once left a run open whose session had been taken away with its asset: the session
  // was written after the deletion had looked for it. Each pair here races an opening against a deletion.
  it('a new version opened while its asset is deleted permanently is refused or ended, never left open', async () => {
    const assets = await Promise.all(Array.from({ length: 6 }, (_, i) => newAsset(uniqueMarker(`perm-race-${i}`))));
    const sessions = await Promise.all(
      assets.map(async (asset) => {
        const [session] = await Promise.all([
          createUpload(ctx.baseUrl, { name: 'next.bin', size_bytes: 2 * PART, part_size_bytes: PART, asset_id: asset.id }),
          deletePermanently(asset.id),
        ]);
        return session;
      }),
    );
    for (const session of sessions) {
      expect([201, 404]).toContain(session.status);
      if (session.status !== 201) continue;
      const run = ctx.temporal.client.workflow.getHandle(session.body.workflow_id);
      await waitUntil('the upload run to end', async () => (await run.describe()).status.name !== 'RUNNING', 30_000, 200);
      expect(await run.result()).toMatchObject({ status: 'aborted' });
    }
    expect(
      await ctx.db('upload_sessions').whereIn(
        'result_asset_id',
        assets.map((a) => a.id),
      ),
    ).toEqual([]);
    for (const asset of assets) expect(await openMultipartKeys(ctx.s3, ctx.config.s3.bucket, `assets/${asset.id}/`)).toEqual([]);
  });

  it('a session is not written for an asset already deleted: the upload ends AssetGone, with no row', async () => {
    const asset = await newAsset(uniqueMarker('perm-gone'));
    expect((await call(assetUrl(asset.id), { method: 'DELETE' })).status).toBe(204);
    const uploads = createUploadActivities(ctx satisfies ActivityDeps);
    const input: UploadInput = {
      uploadId: randomUUID(),
      kind: 'chunked',
      assetId: asset.id,
      newAsset: false,
      versionId: randomUUID(),
      objectKey: `assets/${asset.id}/late`,
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
      name: 'late.bin',
      contentType: 'application/octet-stream',
      sizeBytes: PART,
      partSizeBytes: PART,
      partCount: 1,
    };
    await expect(uploads.openUpload(input)).rejects.toMatchObject({ type: 'AssetGone', nonRetryable: true });
    expect(await ctx.db('upload_sessions').where({ id: input.uploadId })).toEqual([]);
  });

  // An outside tester's race: the deletion aborted the session and removed the object its run had
  // just assembled, and the run's confirmation then retried without end, looking for that object.
  it('a completion whose assembled object a deletion removed ends AssetGone; one whose session still completes is retried', async () => {
    const uploads = createUploadActivities(ctx satisfies ActivityDeps);
    const asset = await newAsset(uniqueMarker('perm-confirm'));
    const session = await createUpload(ctx.baseUrl, { name: 'next.bin', size_bytes: 10, asset_id: asset.id });
    expect(session.status).toBe(201);
    const confirm = () =>
      uploads.confirmStreamedParts({
        uploadId: session.body.id,
        objectKey: `assets/${asset.id}/never-stored`,
        sizeBytes: 10,
        checksumSha256: 'a'.repeat(64),
        multipartEtag: '"x-1"',
      });
    await expect(confirm()).rejects.toThrow(/is not in the store$/);
    await expect(confirm()).rejects.not.toMatchObject({ nonRetryable: true });
    await deletePermanently(asset.id);
    await expect(confirm()).rejects.toMatchObject({ type: 'AssetGone', nonRetryable: true });
  });

  it('a chunked upload completed while its asset is deleted permanently: every run ends, and nothing of the asset is left', async () => {
    const assets = await Promise.all(Array.from({ length: 4 }, (_, i) => newAsset(uniqueMarker(`perm-complete-${i}`))));
    const runs = await Promise.all(
      assets.map(async (asset) => {
        const session = await createUpload(ctx.baseUrl, { name: 'next.bin', size_bytes: 100, asset_id: asset.id });
        expect((await putPart(ctx.baseUrl, session.body.id, 1, bytesOf(100))).status).toBe(200);
        await Promise.all([call(`${ctx.baseUrl}/api/v2/uploads/${session.body.id}/complete`, { method: 'POST' }), deletePermanently(asset.id)]);
        return ctx.temporal.client.workflow.getHandle(session.body.workflow_id);
      }),
    );
    for (const run of runs) await waitUntil('the upload run to end', async () => (await run.describe()).status.name !== 'RUNNING', 30_000, 200);
    const ids = assets.map((a) => a.id);
    expect(await ctx.db('assets').whereIn('id', ids)).toEqual([]);
    for (const id of ids) expect(await objectKeys(ctx, `assets/${id}/`)).toEqual([]);
  });
});

describe('versions', () => {
  const files = [bytesOf(1000), bytesOf(2000), bytesOf(3000)];
  let asset: any;
  const versionIds: string[] = [];

  beforeAll(async () => {
    asset = await newAsset(uniqueMarker('ver'), { content_type: 'image/png', metadata: '{"k":"v"}', tags: 'keep' }, files[0]);
    versionIds.push(asset.current_version_id);
    for (const file of files.slice(1)) {
      const res = await addVersion(ctx.baseUrl, asset.id, file, { content_type: 'image/jpeg' });
      versionIds.push(res.body.id);
    }
  }, 60_000);

  it('POST /versions answers 201 with the Version and a Location', async () => {
    const file = bytesOf(10);
    const other = await newAsset(uniqueMarker('ver-post'));
    const res = await postVersion(ctx.baseUrl, other.id, file, { content_type: 'text/csv' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(String),
      asset_id: other.id,
      version_number: 2,
      size_bytes: 10,
      content_type: 'text/csv',
      checksum_sha256: sha256(file),
      is_current: true,
      created_at: expect.any(String),
      // The default caller of these tests is the test admin: it uploaded the version.
      uploaded_by: 'test-admin',
      // Only a scrub that finds its bytes gone or wrong, and no backup holding them, marks a version damaged.
      damaged_at: null,
      damage: null,
    });
    expect(res.headers.get('location')).toBe(`/api/v2/assets/${other.id}/versions/${res.body.id}`);
    const events = await outboxEvents(ctx, other.id);
    expect(events.map((e) => e.type)).toEqual(['storage.asset.created', 'storage.version.created', 'storage.version.created']);
    expect(events[2].data).toMatchObject({ version_id: res.body.id, version_number: 2, checksum_sha256: sha256(file) });
  });

  it('GET /versions: newest first, 3, 2, 1, only the newest current', async () => {
    const res = await call(assetUrl(asset.id, '/versions'));
    expect(res.status).toBe(200);
    expect(res.body.next_cursor).toBeNull();
    expect(res.body.items.map((v: any) => v.version_number)).toEqual([3, 2, 1]);
    expect(res.body.items.map((v: any) => v.is_current)).toEqual([true, false, false]);
    expect(res.body.items.map((v: any) => v.id)).toEqual([...versionIds].reverse());
    expect(res.body.items.map((v: any) => v.checksum_sha256)).toEqual([...files].reverse().map(sha256));
    expect(res.body.items.map((v: any) => v.size_bytes)).toEqual([3000, 2000, 1000]);
    expect(res.body.items[2].content_type).toBe('image/png');
    expect(res.body.items[0].content_type).toBe('image/jpeg');

    const current = await call(assetUrl(asset.id));
    expect(current.body).toMatchObject({ current_version_id: versionIds[2], version_count: 3, checksum_sha256: sha256(files[2]), size_bytes: 3000 });
    // A version without metadata or tags fields keeps the asset's.
    expect(current.body).toMatchObject({ metadata: { k: 'v' }, tags: ['keep'] });
  });

  it('GET /versions pages with limit and cursor', async () => {
    const first = await call(`${assetUrl(asset.id, '/versions')}?limit=2`);
    expect(first.body.items.map((v: any) => v.version_number)).toEqual([3, 2]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await call(`${assetUrl(asset.id, '/versions')}?limit=2&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    expect(second.body.items.map((v: any) => v.version_number)).toEqual([1]);
    expect(second.body.next_cursor).toBeNull();
    expectProblem(await call(`${assetUrl(asset.id, '/versions')}?limit=0`), 400);
    expectProblem(await call(`${assetUrl(asset.id, '/versions')}?cursor=bogus`), 400);
  });

  it('GET one version; 404 for a version of another asset, an unknown asset or version', async () => {
    const one = await call(assetUrl(asset.id, `/versions/${versionIds[0]}`));
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: versionIds[0], asset_id: asset.id, version_number: 1, is_current: false, checksum_sha256: sha256(files[0]) });

    const other = await newAsset(uniqueMarker('ver-other'));
    expectProblem(await call(assetUrl(other.id, `/versions/${versionIds[0]}`)), 404);
    expect((await download(assetUrl(other.id, `/versions/${versionIds[0]}/content`))).status).toBe(404);
    expectProblem(await call(assetUrl(other.id, `/versions/${versionIds[0]}/restore`), { method: 'POST' }), 404);
    expectProblem(await call(assetUrl(asset.id, `/versions/${UNKNOWN_ID}`)), 404);
    expectProblem(await call(assetUrl(UNKNOWN_ID, `/versions/${versionIds[0]}`)), 404);
    expectProblem(await call(assetUrl(UNKNOWN_ID, '/versions')), 404);
    expect((await postVersion(ctx.baseUrl, UNKNOWN_ID, bytesOf(5))).status).toBe(404);
    expectProblem(await call(assetUrl(asset.id, '/versions/v1')), 400);
  });

  // The fuzzer once left a restore retrying for good: the version's bytes had gone (pruned) while it copied them.
  it('POST /versions/{vid}/restore of a version whose bytes are gone: 404, and its run ends', async () => {
    const gone = await newAsset(uniqueMarker('ver-gone'));
    const first = (await ctx.db('asset_versions').where({ id: gone.current_version_id }).first()) as { object_key: string };
    await addVersion(ctx.baseUrl, gone.id, bytesOf(20));
    await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.config.s3.bucket, Key: first.object_key }));
    const before = await ctx.db('asset_versions').where({ asset_id: gone.id }).count({ n: '*' });
    expectProblem(await call(assetUrl(gone.id, `/versions/${gone.current_version_id}/restore`), { method: 'POST' }), 404);
    expect(await ctx.db('asset_versions').where({ asset_id: gone.id }).count({ n: '*' })).toEqual(before);
    const session = await ctx.db('upload_sessions').where({ asset_id: gone.id, kind: 'copy' }).first();
    expect(session).toMatchObject({ status: 'failed' });
    expect((await ctx.temporal.client.workflow.getHandle(session.workflow_id).describe()).status.name).toBe('COMPLETED');
  });

  it('POST /versions/{vid}/restore: 201, a new current version 4 with the old bytes', async () => {
    const res = await call(assetUrl(asset.id, `/versions/${versionIds[0]}/restore`), { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      asset_id: asset.id,
      version_number: 4,
      is_current: true,
      size_bytes: 1000,
      checksum_sha256: sha256(files[0]),
      content_type: 'image/png',
    });
    expect(res.body.id).not.toBe(versionIds[0]);

    const content = await download(assetUrl(asset.id, '/content'));
    expect(content.status).toBe(200);
    expect(content.body.equals(files[0])).toBe(true);
    expect(content.headers.get('content-type')).toBe('image/png');
    const own = await download(assetUrl(asset.id, `/versions/${res.body.id}/content`));
    expect(own.body.equals(files[0])).toBe(true);

    const list = await call(assetUrl(asset.id, '/versions'));
    expect(list.body.items.map((v: any) => v.version_number)).toEqual([4, 3, 2, 1]);
    expect(list.body.items.map((v: any) => v.is_current)).toEqual([true, false, false, false]);
    const current = await call(assetUrl(asset.id));
    expect(current.body).toMatchObject({ current_version_id: res.body.id, version_count: 4, checksum_sha256: sha256(files[0]), content_type: 'image/png' });
    expect(await objectKeys(ctx, `assets/${asset.id}/`)).toHaveLength(4);

    const types = (await outboxEvents(ctx, asset.id)).map((e) => e.type);
    expect(types).toEqual(['storage.asset.created', ...Array(4).fill('storage.version.created')]);
  });

  it("each version says who uploaded it: its owner's, a grantee's, and a restore's of whoever restored it", async () => {
    const as = {
      alice: await tokenFor({ sub: 'alice' }),
      bob: await tokenFor({ sub: 'bob' }),
      root: await tokenFor({ sub: 'root', roles: ['storage:admin'] }),
    };
    const form = (file: Buffer, name: string) => {
      const body = new FormData();
      body.append('name', name);
      body.append('file', new Blob([file]), 'file.bin');
      return body;
    };
    const name = uniqueMarker('ver-uploaders');
    const first = bytesOf(30);
    const made = await settled(
      ctx.baseUrl,
      await call(`${ctx.baseUrl}/api/v2/assets/upload`, { method: 'POST', body: form(first, name), as: as.alice }),
      'asset',
    );
    const mine = made.body as { id: string; current_version_id: string };
    const granted = await call(assetUrl(mine.id, '/grants'), { method: 'PUT', json: [{ subject: 'user:bob', access: 'write' }], as: as.alice });
    expect(granted.status).toBe(200);
    const bobs = await settled(
      ctx.baseUrl,
      await call(assetUrl(mine.id, '/versions'), { method: 'POST', body: form(bytesOf(40), name), as: as.bob }),
      'version',
    );
    expect(bobs.body).toMatchObject({ version_number: 2, uploaded_by: 'bob' });
    // An admin restores alice's first version: the copy is the admin's upload, its bytes alice's.
    const restored = await settled(
      ctx.baseUrl,
      await call(assetUrl(mine.id, `/versions/${mine.current_version_id}/restore`), { method: 'POST', as: as.root }),
      'version',
    );
    expect(restored.body).toMatchObject({ version_number: 3, uploaded_by: 'root', checksum_sha256: sha256(first) });

    const list = await call(assetUrl(mine.id, '/versions'), { as: as.alice });
    expect(list.body.items.map((v: any) => [v.version_number, v.uploaded_by])).toEqual([
      [3, 'root'],
      [2, 'bob'],
      [1, 'alice'],
    ]);
    expect((await call(assetUrl(mine.id, `/versions/${mine.current_version_id}`), { as: as.bob })).body).toMatchObject({ uploaded_by: 'alice' });
  });

  it("a new version sent without a name keeps the asset's name (not the file part's filename)", async () => {
    const named = await newAsset(uniqueMarker('keep-name'));
    await addVersion(ctx.baseUrl, named.id, bytesOf(20), {}, 'local-file-name.bin');
    expect((await call(assetUrl(named.id))).body.name).toBe(named.name);
    // With a name field, the name is replaced.
    await addVersion(ctx.baseUrl, named.id, bytesOf(20), { name: 'given' });
    expect((await call(assetUrl(named.id))).body.name).toBe('given');
  });
});

describe('STORAGE_MAX_VERSIONS pruning', () => {
  const small = useTestService({ STORAGE_MAX_VERSIONS: '3' });

  it('keeps the 3 newest: the oldest noncurrent go, rows and objects; the current stays', async () => {
    const files = Array.from({ length: 5 }, (_, i) => bytesOf(100 + i));
    const first = await addAsset(small.baseUrl, files[0], { name: uniqueMarker('prune') });
    const assetId = first.body.id;
    const ids = [first.body.current_version_id];
    for (const file of files.slice(1)) {
      const res = await addVersion(small.baseUrl, assetId, file);
      ids.push(res.body.id);
      // Never more than 3, at any time, and the one just made is current.
      const list = await call(`${small.baseUrl}/api/v2/assets/${assetId}/versions`);
      expect(list.body.items.length).toBeLessThanOrEqual(3);
      expect(list.body.items[0]).toMatchObject({ id: res.body.id, is_current: true });
    }

    const list = await call(`${small.baseUrl}/api/v2/assets/${assetId}/versions`);
    expect(list.body.items.map((v: any) => v.version_number)).toEqual([5, 4, 3]);
    expect(list.body.items.map((v: any) => v.id)).toEqual([ids[4], ids[3], ids[2]]);
    expect(list.body.items.map((v: any) => v.is_current)).toEqual([true, false, false]);

    const asset = await call(`${small.baseUrl}/api/v2/assets/${assetId}`);
    expect(asset.body).toMatchObject({ version_count: 3, current_version_id: ids[4], checksum_sha256: sha256(files[4]) });

    const keys = await objectKeys(small, `assets/${assetId}/`);
    expect(keys).toEqual([ids[2], ids[3], ids[4]].map((id) => `assets/${assetId}/${id}`).sort());
    for (const gone of ids.slice(0, 2)) {
      expect((await call(`${small.baseUrl}/api/v2/assets/${assetId}/versions/${gone}`)).status).toBe(404);
      expect((await download(`${small.baseUrl}/api/v2/assets/${assetId}/versions/${gone}/content`)).status).toBe(404);
    }
    for (const [i, kept] of [ids[2], ids[3], ids[4]].entries()) {
      const got = await download(`${small.baseUrl}/api/v2/assets/${assetId}/versions/${kept}/content`);
      expect(got.status).toBe(200);
      expect(got.body.equals(files[i + 2])).toBe(true);
    }
    // Numbering goes on from the highest number ever given, not from the count.
    const sixth = await addVersion(small.baseUrl, assetId, bytesOf(7));
    expect(sixth.body.version_number).toBe(6);
  }, 180_000);
});

describe('concurrent new versions of one asset', () => {
  it('20 at once get version numbers exactly 2..21 (1 is the upload): no gap, no duplicate', async () => {
    const first = await newAsset(uniqueMarker('race'));
    const files = Array.from({ length: 20 }, (_, i) => bytesOf(200 + i));
    // 201 with the Version, even when newer uploads pruned it at once; or 202 on a loaded machine,
    // and then the version made is read from the event its commit wrote (it may be pruned already).
    const answers = await Promise.all(
      files.map(async (file) => {
        const res = await postVersion(ctx.baseUrl, first.id, file);
        if (res.status === 201) return res;
        const session = await settledSession(ctx.baseUrl, res);
        const [event] = (await outboxEvents(ctx, first.id)).filter((e) => e.type === 'storage.version.created' && e.data.version_id === session.version_id);
        return { ...res, body: { id: session.version_id, asset_id: first.id, ...event.data } };
      }),
    );
    for (const [i, res] of answers.entries()) {
      expect(res.body.asset_id).toBe(first.id);
      expect(res.body.checksum_sha256).toBe(sha256(files[i]));
    }
    const numbers = answers.map((r) => r.body.version_number).sort((a: number, b: number) => a - b);
    expect([1, ...numbers]).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));

    // The listing: newest first, contiguous from 21, one current; older ones pruned past the limit.
    const max = ctx.config.versions.max;
    const list = await listAllVersions(first.id);
    const kept = Math.min(21, max);
    expect(list.map((v) => v.version_number)).toEqual(Array.from({ length: kept }, (_, i) => 21 - i));
    expect(list.filter((v) => v.is_current).map((v) => v.version_number)).toEqual([21]);
    const newest = answers.find((r) => r.body.version_number === 21)!;
    const asset = await call(assetUrl(first.id));
    expect(asset.body).toMatchObject({ current_version_id: newest.body.id, version_count: kept, checksum_sha256: newest.body.checksum_sha256 });
    expect(await objectKeys(ctx, `assets/${first.id}/`)).toHaveLength(kept);
    const content = await download(assetUrl(first.id, '/content'));
    expect(sha256(content.body)).toBe(newest.body.checksum_sha256);

    const versionEvents = (await outboxEvents(ctx, first.id)).filter((e) => e.type === 'storage.version.created');
    expect(versionEvents.map((e) => e.data.version_number)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  }, 180_000);
});

async function listAllVersions(assetId: string): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: any } = await call(`${assetUrl(assetId, '/versions')}?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return items;
}
