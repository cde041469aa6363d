/**
 * Lifecycle policies over HTTP: create, read, list, replace, delete, and every kind of bad input
 * answered as problem+json with a path per error. Also the runs endpoints' bad input.
 */
import { uuidv7 } from '../lib/platform/ids';
import { useTestService } from './support/context';
import { call } from './support/http';

const ctx = useTestService();

const url = (path = '') => `${ctx.baseUrl}/api/v2/policies${path}`;
const post = (json: unknown) => call(url(), { method: 'POST', json });
const put = (id: string, json: unknown) => call(url(`/${id}`), { method: 'PUT', json });
let n = 0;
const uniqueName = (label: string) => `${label}-${process.pid}-${++n}-${uuidv7().slice(-6)}`;

const tidy = (name: string) => ({
  name,
  description: 'old portraits go',
  filter: { name_prefix: 'portraits/', content_type: 'image/*', tags: ['npc'] },
  rules: [
    { action: 'expire_noncurrent_versions', noncurrent_days: 30, keep_latest: 3 },
    { action: 'expire_assets', days: 365 },
    { action: 'purge_deleted', days: 30 },
    { action: 'abort_incomplete_uploads', days: 7 },
  ],
});

function expectProblem(res: { status: number; headers: Headers; body: { errors: Array<{ path: string; message: string }> } }, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
}

describe('policies', () => {
  it('are created (201, Location), read back, replaced whole and soft-deleted, which frees the name', async () => {
    const name = uniqueName('tidy');
    const created = await post(tidy(name));
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v2/policies/${created.body.id}`);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      ...tidy(name),
      enabled: true,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const id = created.body.id;
    expect((await call(url(`/${id}`))).body).toEqual(created.body);

    // PUT replaces everything: what is left out takes its default.
    const replaced = await put(id, { name, enabled: false, rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 10 }] });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({
      id,
      name,
      description: '',
      enabled: false,
      filter: {},
      rules: [{ action: 'expire_noncurrent_versions', noncurrent_days: 10 }],
    });
    expect(replaced.body.created_at).toBe(created.body.created_at);
    expect(Date.parse(replaced.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.body.updated_at));
    expect((await call(url(`/${id}`))).body).toEqual(replaced.body);
    expect(await ctx.db('policy_rules').where({ policy_id: id }).count({ n: '*' })).toEqual([{ n: 1 }]);

    expect((await call(url(`/${id}`), { method: 'DELETE' })).status).toBe(204);
    expect((await call(url(`/${id}`))).status).toBe(404);
    expect((await call(url(`/${id}`), { method: 'DELETE' })).status).toBe(404);
    expect((await ctx.db('lifecycle_policies').where({ id }).first()).is_deleted).toBe(true);
    const again = await post(tidy(name));
    expect(again.status).toBe(201);
    expect(again.body.id).not.toBe(id);
  });

  it('are listed oldest first, a page at a time, without the deleted ones', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await post({ name: uniqueName('list'), rules: [{ action: 'expire_assets', days: 100 + i }] })).body.id);
    expect((await call(url(`/${ids[2]}`), { method: 'DELETE' })).status).toBe(204);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call(url(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`));
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((p: { id: string }) => p.id));
      cursor = page.body.next_cursor ?? undefined;
      pages++;
    } while (cursor && pages < 50);
    const mine = seen.filter((id) => ids.includes(id));
    expect(mine).toEqual([ids[0], ids[1], ids[3], ids[4]]);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('a live name is unique: 409 on create and on a rename to it', async () => {
    const name = uniqueName('dup');
    expect((await post(tidy(name))).status).toBe(201);
    const dup = await post(tidy(name));
    expectProblem(dup, 409);
    expect(dup.body.detail).toContain(name);
    const other = await post(tidy(uniqueName('other')));
    expectProblem(await put(other.body.id, tidy(name)), 409);
    // The failed rename changed nothing.
    expect((await call(url(`/${other.body.id}`))).body.name).toBe(other.body.name);
  });

  it('invalid rules and fields: 400 with a path per error, and nothing is written', async () => {
    const before = await ctx.db('lifecycle_policies').count({ n: '*' });
    const res = await post({
      name: '',
      color: 'red',
      filter: { name_prefix: '', content_type: 'image', tags: ['a,b'], size: 3 },
      rules: [
        { action: 'shred', days: 3 },
        { action: 'expire_assets', days: 0 },
        { action: 'purge_deleted', days: 1.5 },
        { action: 'abort_incomplete_uploads' },
        { action: 'expire_noncurrent_versions', noncurrent_days: 5, keep_latest: -1 },
        { action: 'expire_noncurrent_versions', days: 5 },
        { action: 'expire_assets', days: 3, keep_latest: 2 },
        'expire everything',
      ],
    });
    expectProblem(res, 400);
    const paths = res.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'body', // the unknown top-level field (reported on the object)
        'filter.name_prefix',
        'filter.content_type',
        'filter.tags[0]',
        'filter',
        'rules[0].action',
        'rules[1].days',
        'rules[2].days',
        'rules[3].days',
        'rules[4].keep_latest',
        'rules[5].noncurrent_days',
        'rules[5]',
        'rules[6]',
        'rules[7]',
      ]),
    );
    for (const error of res.body.errors) expect(error.message).toEqual(expect.any(String));
    const message = (path: string) => res.body.errors.find((e: { path: string }) => e.path === path).message;
    expect(message('rules[0].action')).toMatch(/expire_noncurrent_versions/);
    expect(message('rules[1].days')).toMatch(/at least 1/);
    expect(message('rules[3].days')).toBe('required');
    expect(message('rules[7]')).toBe('must be an object with an action');
    expect(await ctx.db('lifecycle_policies').count({ n: '*' })).toEqual(before);

    expectProblem(await post({ name: uniqueName('norules'), rules: [] }), 400);
    expectProblem(await post({ name: uniqueName('missing') }), 400);
    expectProblem(await post({ name: uniqueName('enabled'), enabled: 'yes', rules: [{ action: 'expire_assets', days: 1 }] }), 400);
    const created = await post(tidy(uniqueName('valid')));
    const badPut = await put(created.body.id, { ...tidy(created.body.name), rules: [{ action: 'expire_assets', days: -1 }] });
    expectProblem(badPut, 400);
    expect(badPut.body.errors).toEqual([{ path: 'rules[0].days', message: expect.any(String) }]);
    expect((await call(url(`/${created.body.id}`))).body.rules).toEqual(tidy(created.body.name).rules);
  });

  it('a body that is not JSON: 400 when malformed, 415 when another media type', async () => {
    const malformed = await call(url(), { method: 'POST', body: '{"name": ', headers: { 'content-type': 'application/json' } });
    expectProblem(malformed, 400);
    const text = await call(url(), { method: 'POST', body: 'name=x', headers: { 'content-type': 'text/plain' } });
    expectProblem(text, 415);
  });

  it('unknown ids are 404, malformed ids 400', async () => {
    const unknown = uuidv7();
    expectProblem(await call(url(`/${unknown}`)), 404);
    expectProblem(await put(unknown, tidy(uniqueName('ghost'))), 404);
    expectProblem(await call(url(`/${unknown}`), { method: 'DELETE' }), 404);
    const malformed = await call(url('/not-a-uuid'));
    expectProblem(malformed, 400);
    expect(malformed.body.errors).toEqual([{ path: 'id', message: 'must be a UUID' }]);
    expectProblem(await call(url('?limit=0')), 400);
    expectProblem(await call(url('?cursor=garbage')), 400);
  });
});

describe('lifecycle runs: bad input', () => {
  const runs = (path = '') => `${ctx.baseUrl}/api/v2/lifecycle/runs${path}`;

  it('an unknown policy is 404 and starts nothing; a bad body is 400 with its paths', async () => {
    const before = await ctx.db('lifecycle_runs').count({ n: '*' });
    expectProblem(await call(runs(), { method: 'POST', json: { policy_id: uuidv7() } }), 404);
    const deleted = await post(tidy(uniqueName('deleted')));
    await call(url(`/${deleted.body.id}`), { method: 'DELETE' });
    expectProblem(await call(runs(), { method: 'POST', json: { policy_id: deleted.body.id } }), 404);
    const bad = await call(runs(), { method: 'POST', json: { policy_id: 'x', dry_run: 'yes', everything: true } });
    expectProblem(bad, 400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['body', 'dry_run', 'policy_id']);
    expectProblem(await call(runs(), { method: 'POST', body: 'dry', headers: { 'content-type': 'text/plain' } }), 415);
    expect(await ctx.db('lifecycle_runs').count({ n: '*' })).toEqual(before);
  });

  it('an unknown run is 404, a malformed id 400', async () => {
    expectProblem(await call(runs(`/${uuidv7()}`)), 404);
    expectProblem(await call(runs('/123')), 400);
    expectProblem(await call(runs('?limit=0')), 400);
    const lowered = await call(runs('?limit=5000'));
    expect({ status: lowered.status, applied: lowered.headers.get('limit-applied') }).toEqual({ status: 200, applied: '1000' });
  });
});
