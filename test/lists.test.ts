/**
 * Uniform lists (issue 27), over HTTP with real tokens: `cursor` on every list (the feed's `after=`
 * still read, with a Deprecation header), opaque cursors that a change refuses, a limit over the
 * maximum lowered and said in Limit-Applied, one set of time filter names (audit's since/until kept as
 * deprecated), GET /uploads, and the {version_id} path parameter.
 */
import { recordEvent } from '../lib/events/outbox';
import { DEPRECATED_SINCE } from '../api/http/lists';
import { tokenFor } from './support/auth';
import { bytesOf, uploadAsset } from './support/assets';
import { awaitJob } from './support/backups';
import { settled } from './support/catalog';
import { useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { waitUntil } from './support/processes';

const ctx = useTestService();
const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

type Caller = 'alice' | 'bob' | 'carol' | 'service' | 'admin';
const as = {} as Record<Caller, string>;

beforeAll(async () => {
  Object.assign(as, {
    alice: await tokenFor({ sub: 'lists-alice' }),
    bob: await tokenFor({ sub: 'lists-bob' }),
    carol: await tokenFor({ sub: 'lists-carol' }),
    service: await tokenFor({ sub: 'lists-service', roles: ['storage:service'] }),
    admin: await tokenFor({ sub: 'lists-root', roles: ['storage:admin'] }),
  });
});

function expectDeprecated(res: JsonAnswer): void {
  expect(res.headers.get('deprecation')).toBe(DEPRECATED_SINCE);
  expect(res.headers.get('link')).toMatch(/rel="deprecation"/);
}

const ids = (res: JsonAnswer): string[] => res.body.items.map((item: { id: string }) => item.id);

function expectNotDeprecated(res: JsonAnswer): void {
  expect(res.headers.get('deprecation')).toBeNull();
}

async function newAsset(name: string): Promise<{ id: string; current_version_id: string }> {
  return (await settled(ctx.baseUrl, await uploadAsset(ctx.baseUrl, bytesOf(32), { name }), 'asset')).body;
}

/** The served document. */
async function documentOf(): Promise<any> {
  return (await call(`${ctx.baseUrl}/openapi.json`)).body;
}

describe('the event feed pages with cursor, as every list does', () => {
  /** Every event from `from` on, a page of `limit` at a time through `name`, with each page's answer. */
  async function walk(name: 'cursor' | 'after', limit: number, from?: string) {
    const pages: JsonAnswer[] = [];
    let position = from;
    for (;;) {
      const res = await call(url(`/events?limit=${limit}${position ? `&${name}=${position}` : ''}`));
      expect(res.status).toBe(200);
      pages.push(res);
      if (res.body.items.length === 0) return { pages, end: res.body.next_cursor as string | null };
      position = res.body.next_cursor;
    }
  }

  it('cursor goes through the feed page by page; after= reads the same pages, answered as deprecated', async () => {
    await ctx.db.transaction(async (trx) => {
      for (let i = 0; i < 5; i++) await recordEvent(trx, 'storage.asset.updated', `feed-${i}`, { n: i });
    });
    const whole = await waitUntil('the five events in the feed', async () => {
      const res = await call(url('/events?limit=1000'));
      return res.body.items.filter((e: { subject: string }) => e.subject.startsWith('feed-')).length === 5 ? res : undefined;
    });
    const sequences = whole.body.items.map((e: { sequence: number }) => e.sequence);

    const byCursor = await walk('cursor', 2);
    expect(byCursor.pages.flatMap((p) => p.body.items.map((e: { sequence: number }) => e.sequence))).toEqual(sequences);
    for (const page of byCursor.pages) expectNotDeprecated(page);
    // At the end, next_cursor stays where the feed is, to poll from.
    expect(byCursor.end).toEqual(expect.any(String));

    const byAfter = await walk('after', 2);
    expect(byAfter.pages.map((p) => p.body)).toEqual(byCursor.pages.map((p) => p.body));
    // The first page is asked for without a position: nothing deprecated in it.
    expectNotDeprecated(byAfter.pages[0]);
    for (const page of byAfter.pages.slice(1)) expectDeprecated(page);
  });

  it('one of cursor and after, not both; a cursor of the first form (before cursors were checked) is still read', async () => {
    const first = await call(url('/events?limit=1'));
    const position = first.body.next_cursor;
    const both = await call(url(`/events?cursor=${position}&after=${position}`));
    expectProblem(both, 400);
    expect(both.body.errors.map((e: { path: string }) => e.path)).toEqual(['after']);
    // What GET /events handed out before: base64url of the position's JSON; a feed reader keeps one across deployments.
    const legacy = Buffer.from(JSON.stringify({ t: '0', s: 0 })).toString('base64url');
    const res = await call(url(`/events?cursor=${legacy}&limit=1`));
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(1);
  });
});

describe('a limit over the maximum is lowered to it, and the answer says so', () => {
  it('limit=5000 answers a page of at most 1000 with Limit-Applied: 1000, and the rest follows', async () => {
    // The end of the feed so far (the events of the tests before).
    let position: string | undefined;
    for (;;) {
      const page = (await call(url(`/events?limit=1000${position ? `&cursor=${position}` : ''}`))).body;
      if (page.items.length === 0) break;
      position = page.next_cursor;
    }
    await ctx.db.transaction(async (trx) => {
      for (let i = 0; i < 1001; i++) await recordEvent(trx, 'storage.asset.updated', `many-${i}`, { n: i });
    });
    const capped = await waitUntil('the 1001 events in the feed', async () => {
      const res = await call(url(`/events?limit=5000&cursor=${position}`));
      return res.body.items.length === 1000 ? res : undefined;
    });
    expect({ status: capped.status, applied: capped.headers.get('limit-applied') }).toEqual({ status: 200, applied: '1000' });
    const rest = await call(url(`/events?limit=5000&cursor=${capped.body.next_cursor}`));
    expect(rest.body.items.map((e: { subject: string }) => e.subject)).toEqual(['many-1000']);
  });

  it('every list lowers it and says so; at the maximum or under it, no header; under 1 or not a whole number is still 400', async () => {
    const asset = await newAsset('limits.bin');
    const lists = ['/assets', `/assets/${asset.id}/versions`, '/events', '/audit', '/backups', '/restores', '/policies', '/lifecycle/runs', '/uploads'];
    for (const list of lists) {
      const over = await call(url(`${list}?limit=5000`));
      expect({ list, status: over.status, applied: over.headers.get('limit-applied') }).toEqual({ list, status: 200, applied: '1000' });
      expect(over.body.items.length).toBeLessThanOrEqual(1000);
      const at = await call(url(`${list}?limit=1000`));
      expect({ list, status: at.status, applied: at.headers.get('limit-applied') }).toEqual({ list, status: 200, applied: null });
      for (const bad of ['0', '-3', '2.5', 'many']) {
        const res = await call(url(`${list}?limit=${bad}`));
        expectProblem(res, 400);
        expect(res.body.errors.map((e: { path: string }) => e.path)).toContain('limit');
      }
    }
  });

  it('the document states the lowering, with no maximum a client would be refused for, and the header on every list', async () => {
    const doc = await documentOf();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      const limit = item.get?.parameters?.find((p: { name: string }) => p.name === 'limit');
      if (!limit) continue;
      expect({ path, maximum: limit.schema.maximum > 1000 }).toEqual({ path, maximum: true });
      expect(limit.description).toMatch(/lowered to 1000/);
      expect(Object.keys(item.get.responses['200'].headers)).toContain('Limit-Applied');
    }
  });
});

describe('cursors are opaque, and one changed is refused', () => {
  it('a cursor handed out, changed, cut short or padded is a 400 problem naming cursor; as given, the next page', async () => {
    for (let i = 0; i < 3; i++) await newAsset(`opaque ${i}.bin`);
    const first = await call(url('/assets?name_prefix=opaque&limit=1'));
    const cursor: string = first.body.next_cursor;
    // Not the position's JSON in plain base64: nothing a client could read the sort key from at a glance.
    expect(cursor.startsWith('ey')).toBe(false);
    const middle = Math.floor(cursor.length / 2);
    const changed = cursor.slice(0, middle) + (cursor[middle] === 'A' ? 'B' : 'A') + cursor.slice(middle + 1);
    for (const bad of [changed, cursor.slice(0, -3), `${cursor}AAAA`, 'not a cursor', '', 'ÑÑÑ', 'A'.repeat(1025)]) {
      const res = await call(url(`/assets?name_prefix=opaque&limit=1&cursor=${encodeURIComponent(bad)}`));
      expectProblem(res, 400);
      expect(res.body.errors).toEqual([{ path: 'cursor', message: expect.stringMatching(/next_cursor/) }]);
      expect(res.body.detail).toMatch(/cursor/);
    }
    const next = await call(url(`/assets?name_prefix=opaque&limit=1&cursor=${cursor}`));
    expect(next.status).toBe(200);
    expect(next.body.items[0].id).not.toBe(first.body.items[0].id);
  });

  it("the document gives no cursor's form: an opaque string of at most 1024 URL-safe characters", async () => {
    const doc = await documentOf();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const p of item.get?.parameters ?? []) {
        if (p.name !== 'cursor' && p.name !== 'after') continue;
        expect({ path, name: p.name, schema: p.schema }).toEqual({
          path,
          name: p.name,
          schema: expect.objectContaining({ type: 'string', maxLength: 1024, pattern: '^[A-Za-z0-9_-]*$' }),
        });
      }
    }
  });
});

describe('one set of names for time filters: created_after and created_before', () => {
  it("audit's created_after/created_before give what since/until give; the old names are deprecated", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(url('/uploads'), { method: 'POST', json: { name: `audited ${i}.bin`, size_bytes: 1 }, as: as.carol })).status).toBe(201);
    }
    const from = new Date(Date.now() - 10 * 60_000).toISOString();
    const to = new Date(Date.now() + 10 * 60_000).toISOString();
    const rows = await waitUntil("the sessions' rows in the audit log", async () => {
      const res = await call(url(`/audit?actor=lists-carol&created_after=${from}&created_before=${to}`));
      return res.body.items.length === 3 ? res : undefined;
    });
    expectNotDeprecated(rows);
    const old = await call(url(`/audit?actor=lists-carol&since=${from}&until=${to}`));
    expect(old.status).toBe(200);
    expectDeprecated(old);
    expect(old.body.items).toEqual(rows.body.items);

    // The new names exclude the time itself, as the assets' have always done; since includes it.
    const at = rows.body.items[0].at;
    const excluded = await call(url(`/audit?actor=lists-carol&created_after=${encodeURIComponent(at)}`));
    expect(excluded.body.items.map((r: { id: string }) => r.id)).not.toContain(rows.body.items[0].id);
    const included = await call(url(`/audit?actor=lists-carol&since=${encodeURIComponent(at)}`));
    expect(included.body.items.map((r: { id: string }) => r.id)).toContain(rows.body.items[0].id);

    // Any offset a valid time may have, and a far year, compare as the time they name.
    const odd = await call(url(`/audit?actor=lists-carol&created_before=${encodeURIComponent('0999-10-17T15:43:37-17:20')}`));
    expect({ status: odd.status, items: odd.body.items }).toEqual({ status: 200, items: [] });
    const shifted = new Date(Date.parse(to)).toISOString().replace('Z', '+00:00');
    expect((await call(url(`/audit?actor=lists-carol&created_before=${encodeURIComponent(shifted)}`))).body.items).toEqual(rows.body.items);

    const both = await call(url(`/audit?since=${from}&created_after=${from}`));
    expectProblem(both, 400);
    expect(both.body.errors.map((e: { path: string }) => e.path)).toEqual(['since']);
  });

  it('assets and audit filter creation time by the same names; the document marks only the old ones deprecated', async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const asset = await newAsset('filtered by time.bin');
    const assets = await call(url(`/assets?name_prefix=filtered&created_after=${before}`));
    expect(assets.body.items.map((a: { id: string }) => a.id)).toEqual([asset.id]);
    expect((await call(url(`/assets?name_prefix=filtered&created_before=${before}`))).body.items).toEqual([]);

    const doc = await documentOf();
    const names = (path: string) =>
      Object.fromEntries(doc.paths[path].get.parameters.map((p: { name: string; deprecated?: boolean }) => [p.name, p.deprecated ?? false]));
    expect(names('/api/v2/assets')).toMatchObject({ created_after: false, created_before: false });
    expect(names('/api/v2/audit')).toMatchObject({ created_after: false, created_before: false, since: true, until: true });
    expect(names('/api/v2/events')).toMatchObject({ cursor: false, after: true });
    expect(Object.keys(doc.paths['/api/v2/audit'].get.responses['200'].headers)).toEqual(expect.arrayContaining(['Deprecation', 'Link']));
  });
});

describe('status and time filters on the lists of jobs: status, created_after, created_before', () => {
  it('backups and lifecycle runs filter by the status their list shows and by creation time, each bound excluded', async () => {
    const backup = await call(url('/backups'), { method: 'POST', json: { label: 'filtered' } });
    expect(backup.status).toBe(202);
    const run = await call(url('/lifecycle/runs'), { method: 'POST', json: { dry_run: true } });
    expect(run.status).toBe(202);
    for (const [list, id] of [
      ['/backups', backup.body.id],
      ['/lifecycle/runs', run.body.id],
    ]) {
      const done = await awaitJob(ctx, `/api/v2${list}/${id}`);
      expect(done.status).toBe('completed');
      const found = async (query: string) => ids(await call(url(`${list}?limit=1000&${query}`))).includes(id);
      expect({ list, completed: await found('status=completed'), running: await found('status=running') }).toEqual({ list, completed: true, running: false });
      const created = String(done.created_at);
      const earlier = new Date(Date.parse(created) - 1).toISOString();
      expect({
        list,
        afterEarlier: await found(`created_after=${earlier}`),
        afterItself: await found(`created_after=${created}`),
        beforeItself: await found(`created_before=${created}`),
        beforeLater: await found(`created_before=${new Date(Date.parse(created) + 1).toISOString()}`),
      }).toEqual({ list, afterEarlier: true, afterItself: false, beforeItself: false, beforeLater: true });
      expectProblem(await call(url(`${list}?status=lost`)), 400);
    }
    expect(ids(await call(url(`/restores?status=completed&created_after=${new Date().toISOString()}`)))).toEqual([]);
  });
});

describe('GET /uploads lists upload sessions', () => {
  const open = (token: string, name: string) => call(url('/uploads'), { method: 'POST', json: { name, size_bytes: 10 }, as: token });

  it("the caller's own, newest first; another user sees none of them; a service or an admin sees every owner's, or one's", async () => {
    const mine = [(await open(as.alice, 'a1.bin')).body.id, (await open(as.alice, 'a2.bin')).body.id];
    const bobs = (await open(as.bob, 'b1.bin')).body.id;
    const aborted = (await open(as.alice, 'a3.bin')).body.id;
    expect((await call(url(`/uploads/${aborted}`), { method: 'DELETE', as: as.alice })).status).toBe(204);

    const alice = await call(url('/uploads'), { as: as.alice });
    expect(alice.status).toBe(200);
    expect([...ids(alice)].sort()).toEqual([...mine, aborted].sort());
    expect(ids(alice)).toEqual([...ids(alice)].sort().reverse());
    expect(alice.body.items.find((u: { id: string }) => u.id === mine[1])).toMatchObject({ name: 'a2.bin', status: 'open', size_bytes: 10, asset_id: null });
    expect(ids(await call(url('/uploads'), { as: as.bob }))).toEqual([bobs]);
    expect(ids(await call(url('/uploads?owner_id=lists-alice'), { as: as.alice }))).toEqual(ids(alice));
    expectProblem(await call(url('/uploads?owner_id=lists-alice'), { as: as.bob }), 403);

    for (const who of [as.admin, as.service]) {
      const all = ids(await call(url('/uploads?limit=1000'), { as: who }));
      expect(all).toEqual(expect.arrayContaining([...ids(alice), bobs]));
      expect(ids(await call(url('/uploads?owner_id=lists-alice'), { as: who }))).toEqual(ids(alice));
    }

    // Page by page with the cursor, as every list.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: JsonAnswer = await call(url(`/uploads?limit=1${cursor ? `&cursor=${cursor}` : ''}`), { as: as.alice });
      paged.push(...ids(page));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(paged).toEqual(ids(alice));

    // Of one status: the row says aborted once the abort's run has ended it.
    await waitUntil('the aborted session', async () => {
      const res = await call(url('/uploads?status=aborted'), { as: as.alice });
      return ids(res).includes(aborted) ? res : undefined;
    });
    expect(ids(await call(url('/uploads?status=aborted'), { as: as.alice }))).toEqual([aborted]);
    expect(ids(await call(url('/uploads?status=open'), { as: as.alice }))).toEqual(ids(alice).filter((id: string) => id !== aborted));
    expect(ids(await call(url('/uploads?status=open'), { as: as.bob }))).toEqual([bobs]);
    expectProblem(await call(url('/uploads?status=lost'), { as: as.alice }), 400);
  });

  it('needs a token', async () => {
    expectProblem(await call(url('/uploads'), { as: null }), 401);
  });
});

describe('the version path parameter is {version_id}', () => {
  it('the document names it so, with the operation ids unchanged, and the routes take it on the same URLs', async () => {
    const doc = await documentOf();
    const paths = Object.keys(doc.paths);
    expect(paths.filter((p) => p.includes('versionId'))).toEqual([]);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v2/assets/{id}/versions/{version_id}',
        '/api/v2/assets/{id}/versions/{version_id}/content',
        '/api/v2/assets/{id}/versions/{version_id}/restore',
        '/api/v2/signed/assets/{id}/versions/{version_id}/content',
      ]),
    );
    expect(doc.paths['/api/v2/assets/{id}/versions/{version_id}'].get.operationId).toBe('getAssetsByIdVersionsByVersionId');

    const asset = await newAsset('versioned.bin');
    const version = await call(url(`/assets/${asset.id}/versions/${asset.current_version_id}`));
    expect(version.body).toMatchObject({ id: asset.current_version_id, asset_id: asset.id, version_number: 1 });
    const content = await fetch(url(`/assets/${asset.id}/versions/${asset.current_version_id}/content`), {
      headers: { authorization: `Bearer ${as.admin}` },
    });
    expect({ status: content.status, length: (await content.arrayBuffer()).byteLength }).toEqual({ status: 200, length: 32 });
    expectProblem(await call(url(`/assets/${asset.id}/versions/not-a-uuid`)), 400);
    const restored = await call(url(`/assets/${asset.id}/versions/${asset.current_version_id}/restore`), { method: 'POST' });
    expect((await settled(ctx.baseUrl, restored, 'version')).body).toMatchObject({ asset_id: asset.id, version_number: 2 });
  });
});

describe("the asset list filters by owner and shows the trash (the console's filters)", () => {
  it('owner_id narrows to one owner among what the caller may read; only_deleted lists soft-deleted assets only', async () => {
    const mine = await newAsset('owner-filter-mine.bin');
    const gone = await newAsset('owner-filter-gone.bin');
    const other = (
      await settled(ctx.baseUrl, await uploadAsset(ctx.baseUrl, bytesOf(16), { name: 'owner-filter-other.bin', owner_id: 'lists-owner-other' }), 'asset')
    ).body;
    const mineTag = ['owner-filter', 'trash'];
    for (const id of [mine.id, gone.id, other.id]) {
      expect(
        (
          await call(url(`/assets/${id}`), {
            method: 'PATCH',
            headers: { 'content-type': 'application/merge-patch+json' },
            body: JSON.stringify({ tags: mineTag }),
          })
        ).status,
      ).toBe(200);
    }
    expect((await call(url(`/assets/${gone.id}`), { method: 'DELETE' })).status).toBe(204);
    const listed = async (query: string, as?: string) => {
      const res = await call(url(`/assets?tag=owner-filter&${query}`), as ? { as } : {});
      expect(res.status).toBe(200);
      return ids(res).sort();
    };
    const owner = (await call(url(`/assets/${mine.id}`))).body.owner_id as string;
    expect(await listed(`owner_id=${owner}`)).toEqual([mine.id].sort());
    expect(await listed('owner_id=lists-owner-other')).toEqual([other.id]);
    expect(await listed(`owner_id=${owner}&only_deleted=true`)).toEqual([gone.id]);
    expect(await listed('only_deleted=true&include_deleted=false')).toEqual([gone.id]);
    expect(await listed(`owner_id=${owner}&include_deleted=true`)).toEqual([mine.id, gone.id].sort());
    // A caller who may read none of another owner's assets finds none by naming the owner: a filter, never a widening.
    expect(await listed(`owner_id=${owner}`, as.bob)).toEqual([]);
    expect(await listed(`owner_id=${owner}&only_deleted=true`, as.bob)).toEqual([]);
    await expectProblem(await call(url('/assets?only_deleted=maybe')), 400);
  });
});
