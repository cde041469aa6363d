/**
 * Preconditions on every change (issue 27): each POST, PUT, PATCH and DELETE the served document
 * lists is sent a stale If-Match against a real resource and answers 412 with nothing changed (but
 * those the document says take none, each with its reason); STORAGE_REQUIRE_IF_MATCH (428);
 * If-None-Match: * on creates; ETags and 304 on the GETs of grants, policies and quotas; PATCH with
 * application/merge-patch+json on assets, policies and quotas, and two PATCHes racing on one ETag.
 */
import { uuidv7 } from '../lib/platform/ids';
import { bearer, tokenFor } from './support/auth';
import { bytesOf } from './support/assets';
import { serveWith, useTestService } from './support/context';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { completeUpload, putPart } from './support/chunked';

const ctx = useTestService();

const api = (path: string) => `${ctx.baseUrl}/api/v2${path}`;
let n = 0;
const unique = (label: string) => `${label}-${process.pid}-${++n}-${uuidv7().slice(-6)}`;
const STALE_ANY = '"stale-0"';

const tokens = new Map<string, string>();
const as = async (sub: string) => {
  if (!tokens.has(sub)) tokens.set(sub, await tokenFor({ sub, roles: [] }));
  return tokens.get(sub)!;
};

async function postFile(url: string, headers: Record<string, string> = {}, token?: string): Promise<JsonAnswer> {
  const form = new FormData();
  form.append('file', new Blob([bytesOf(200)], { type: 'application/octet-stream' }), 'file.bin');
  return call(url, { method: 'POST', body: form, headers, ...(token ? { as: token } : {}) });
}

function mergePatch(url: string, body: unknown, headers: Record<string, string> = {}, type = 'application/merge-patch+json') {
  return call(url, { method: 'PATCH', body: JSON.stringify(body), headers: { 'content-type': type, ...headers } });
}

/** A new asset, and an ETag it had before a change moved it: stale. */
async function assetWithStaleEtag(): Promise<{ id: string; versionId: string; stale: string; etag: string }> {
  const made = await postFile(api('/assets/upload'));
  expect(made.status).toBe(201);
  const stale = made.headers.get('etag')!;
  const moved = await call(api(`/assets/${made.body.id}`), { method: 'PUT', json: { tags: ['moved'] } });
  expect(moved.status).toBe(200);
  expect(moved.headers.get('etag')).not.toBe(stale);
  return { id: made.body.id, versionId: made.body.current_version_id, stale, etag: moved.headers.get('etag')! };
}

/** Everything a change of the asset could touch. */
async function assetState(id: string) {
  return {
    row: await ctx.db('assets').where({ id }).first('revision', 'name', 'tags', 'is_deleted', 'purging_since', 'version_count', 'current_version_id'),
    versions: await ctx.db('asset_versions').where({ asset_id: id }).orderBy('id').pluck('id'),
    metadata: await ctx.db('asset_metadata').where({ asset_id: id }).orderBy('key').select('key', 'value'),
    grants: await ctx.db('asset_grants').where({ asset_id: id }).orderBy('subject').select('subject', 'access'),
    sessions: await ctx.db('upload_sessions').where({ result_asset_id: id }).orderBy('id').pluck('id'),
  };
}

const policyBody = (name: string) => ({ name, rules: [{ action: 'expire_assets', days: 400 }] });

async function policyWithStaleEtag(): Promise<{ id: string; stale: string }> {
  const made = await call(api('/policies'), { method: 'POST', json: policyBody(unique('pre')) });
  expect(made.status).toBe(201);
  const stale = made.headers.get('etag')!;
  const moved = await call(api(`/policies/${made.body.id}`), { method: 'PUT', json: { ...policyBody(made.body.name), description: 'moved' } });
  expect(moved.status).toBe(200);
  return { id: made.body.id, stale };
}

const policyState = async (id: string) => ({
  row: await ctx.db('lifecycle_policies').where({ id }).first(),
  rules: await ctx.db('policy_rules').where({ policy_id: id }).orderBy('position').select('action', 'days'),
});

async function quotaWithStaleEtag(): Promise<{ owner: string; stale: string }> {
  const owner = unique('quota-owner');
  const read = await call(api(`/quotas/${owner}`));
  expect(read.status).toBe(200);
  const moved = await call(api(`/quotas/${owner}`), { method: 'PUT', json: { bytes: 1000 } });
  expect(moved.status).toBe(200);
  return { owner, stale: read.headers.get('etag')! };
}

const count = async (table: string, where: Record<string, unknown> = {}) => Number((await ctx.db(table).where(where).count({ n: '*' }))[0].n);
const tableCounts = async () => ({
  assets: await count('assets'),
  sessions: await count('upload_sessions'),
  policies: await count('lifecycle_policies'),
  runs: await count('lifecycle_runs'),
  jobs: await count('backup_jobs'),
  quotas: await count('owner_quotas'),
  scrubs: await count('scrubs'),
  drills: await count('restore_drills'),
});

/** One request of an operation, with the If-Match the test gives it, and what it must leave as it was. */
interface Attempt {
  label: string;
  /** The If-Match: an ETag the resource had before a change moved it; a create takes any. */
  stale?: string;
  send: (headers: Record<string, string>) => Promise<JsonAnswer>;
  state: () => Promise<unknown>;
}

/** A well-formed request of each operation against a real resource, made fresh for the case. */
const ATTEMPTS: Record<string, () => Promise<Attempt[]>> = {
  'post /api/v2/assets/upload': async () => [{ label: 'a new asset', send: (h) => postFile(api('/assets/upload'), h), state: tableCounts }],
  'put /api/v2/assets/{id}': async () => {
    const { id, stale } = await assetWithStaleEtag();
    return [
      { label: 'stale', stale, send: (h) => call(api(`/assets/${id}`), { method: 'PUT', json: { name: 'renamed' }, headers: h }), state: () => assetState(id) },
    ];
  },
  'patch /api/v2/assets/{id}': async () => {
    const { id, stale } = await assetWithStaleEtag();
    return [{ label: 'stale', stale, send: (h) => mergePatch(api(`/assets/${id}`), { name: 'patched' }, h), state: () => assetState(id) }];
  },
  'delete /api/v2/assets/{id}': async () => {
    const soft = await assetWithStaleEtag();
    const permanent = await assetWithStaleEtag();
    return [
      { label: 'soft', stale: soft.stale, send: (h) => call(api(`/assets/${soft.id}`), { method: 'DELETE', headers: h }), state: () => assetState(soft.id) },
      {
        label: 'permanent',
        stale: permanent.stale,
        send: (h) => call(api(`/assets/${permanent.id}?permanent=true`), { method: 'DELETE', headers: h }),
        state: () => assetState(permanent.id),
      },
    ];
  },
  'post /api/v2/assets/{id}/restore': async () => {
    const { id } = await assetWithStaleEtag();
    const read = await call(api(`/assets/${id}`));
    expect((await call(api(`/assets/${id}`), { method: 'DELETE' })).status).toBe(204);
    // The ETag the asset had before its delete: the deleted asset's is another.
    return [
      {
        label: 'deleted',
        stale: read.headers.get('etag')!,
        send: (h) => call(api(`/assets/${id}/restore`), { method: 'POST', headers: h }),
        state: () => assetState(id),
      },
    ];
  },
  'put /api/v2/assets/{id}/grants': async () => {
    const { id } = await assetWithStaleEtag();
    const grants = await call(api(`/assets/${id}/grants`));
    // A revocation since the grants were read moves the asset's ETag.
    expect((await call(api(`/assets/${id}/grants`), { method: 'PUT', json: [{ subject: 'user:someone', access: 'read' }] })).status).toBe(200);
    return [
      {
        label: 'a revocation since',
        stale: grants.headers.get('etag')!,
        send: (h) => call(api(`/assets/${id}/grants`), { method: 'PUT', json: [{ subject: 'user:other', access: 'write' }], headers: h }),
        state: () => assetState(id),
      },
    ];
  },
  'post /api/v2/assets/{id}/versions': async () => {
    const { id, stale } = await assetWithStaleEtag();
    return [{ label: 'simple', stale, send: (h) => postFile(api(`/assets/${id}/versions`), h), state: () => assetState(id) }];
  },
  'post /api/v2/assets/{id}/versions/{version_id}/restore': async () => {
    const { id, versionId, stale } = await assetWithStaleEtag();
    return [
      {
        label: 'copy',
        stale,
        send: (h) => call(api(`/assets/${id}/versions/${versionId}/restore`), { method: 'POST', headers: h }),
        state: () => assetState(id),
      },
    ];
  },
  'post /api/v2/uploads': async () => {
    const { id, stale } = await assetWithStaleEtag();
    return [
      { label: 'a new asset', send: (h) => call(api('/uploads'), { method: 'POST', json: { name: 'new', size_bytes: 10 }, headers: h }), state: tableCounts },
      {
        label: 'a new version',
        stale,
        send: (h) => call(api('/uploads'), { method: 'POST', json: { name: 'next', size_bytes: 10, asset_id: id }, headers: h }),
        state: () => assetState(id),
      },
    ];
  },
  'post /api/v2/events': async () => {
    const { id } = await policyWithStaleEtag();
    const event = { specversion: '1.0', id: unique('evt'), source: 'character-service', type: 'service.policy.updated', data: { policy_id: id } };
    return [
      {
        label: event.type,
        send: (h) => call(api('/events'), { method: 'POST', body: JSON.stringify(event), headers: { 'content-type': 'application/cloudevents+json', ...h } }),
        state: tableCounts,
      },
    ];
  },
  'post /api/v2/assets/{id}/url': async () => {
    const { id, stale } = await assetWithStaleEtag();
    return [{ label: 'stale', stale, send: (h) => call(api(`/assets/${id}/url`), { method: 'POST', json: {}, headers: h }), state: () => assetState(id) }];
  },
  'post /api/v2/backups': async () => [{ label: 'a backup', send: (h) => call(api('/backups'), { method: 'POST', json: {}, headers: h }), state: tableCounts }],
  'post /api/v2/backups/import': async () => [
    { label: 'an import', send: (h) => call(api('/backups/import'), { method: 'POST', json: {}, headers: h }), state: tableCounts },
  ],
  'post /api/v2/backups/{id}/restore': async () => {
    const { id } = await assetWithStaleEtag();
    const backup = await call(api('/backups'), { method: 'POST', json: { asset_ids: [id] } });
    expect(backup.status).toBe(202);
    return [{ label: 'a restore', send: (h) => call(api(`/backups/${backup.body.id}/restore`), { method: 'POST', json: {}, headers: h }), state: tableCounts }];
  },
  'post /api/v2/restores': async () => {
    const { id } = await assetWithStaleEtag();
    const body = { as_of: new Date().toISOString(), asset_ids: [id] };
    return [{ label: 'a restore to a point in time', send: (h) => call(api('/restores'), { method: 'POST', json: body, headers: h }), state: tableCounts }];
  },
  'post /api/v2/restore-drills': async () => [
    { label: 'a drill', send: (h) => call(api('/restore-drills'), { method: 'POST', json: {}, headers: h }), state: tableCounts },
  ],
  'post /api/v2/scrubs': async () => [{ label: 'a scrub', send: (h) => call(api('/scrubs'), { method: 'POST', json: {}, headers: h }), state: tableCounts }],
  'post /api/v2/policies': async () => [
    { label: 'a policy', send: (h) => call(api('/policies'), { method: 'POST', json: policyBody(unique('new')), headers: h }), state: tableCounts },
  ],
  'put /api/v2/policies/{id}': async () => {
    const { id, stale } = await policyWithStaleEtag();
    return [
      {
        label: 'stale',
        stale,
        send: (h) => call(api(`/policies/${id}`), { method: 'PUT', json: policyBody(unique('put')), headers: h }),
        state: () => policyState(id),
      },
    ];
  },
  'patch /api/v2/policies/{id}': async () => {
    const { id, stale } = await policyWithStaleEtag();
    return [{ label: 'stale', stale, send: (h) => mergePatch(api(`/policies/${id}`), { enabled: false }, h), state: () => policyState(id) }];
  },
  'delete /api/v2/policies/{id}': async () => {
    const { id, stale } = await policyWithStaleEtag();
    return [{ label: 'stale', stale, send: (h) => call(api(`/policies/${id}`), { method: 'DELETE', headers: h }), state: () => policyState(id) }];
  },
  'post /api/v2/lifecycle/runs': async () => [
    { label: 'a run', send: (h) => call(api('/lifecycle/runs'), { method: 'POST', json: { dry_run: true }, headers: h }), state: tableCounts },
  ],
  'put /api/v2/quotas/{owner_id}': async () => {
    const { owner, stale } = await quotaWithStaleEtag();
    const state = () => ctx.db('owner_quotas').where({ owner_id: owner }).first();
    return [{ label: 'stale', stale, send: (h) => call(api(`/quotas/${owner}`), { method: 'PUT', json: { bytes: 5 }, headers: h }), state }];
  },
  'patch /api/v2/quotas/{owner_id}': async () => {
    const { owner, stale } = await quotaWithStaleEtag();
    const state = () => ctx.db('owner_quotas').where({ owner_id: owner }).first();
    return [{ label: 'stale', stale, send: (h) => mergePatch(api(`/quotas/${owner}`), { bytes: null }, h), state }];
  },
};

type Operation = {
  'x-preconditions'?: { kind: string; reason?: string };
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, unknown>;
};

async function changingOperations(): Promise<Array<{ key: string; operation: Operation }>> {
  const doc = await call(`${ctx.baseUrl}/openapi.json`);
  expect(doc.status).toBe(200);
  const paths = doc.body.paths as Record<string, Record<string, Operation>>;
  return Object.entries(paths).flatMap(([path, operations]) =>
    Object.entries(operations)
      .filter(([method]) => ['post', 'put', 'patch', 'delete'].includes(method))
      .map(([method, operation]) => ({ key: `${method} ${path}`, operation })),
  );
}

describe('a stale If-Match on every change the document lists', () => {
  test('is 412 problem+json, and nothing changes; the operations that take none say why', async () => {
    const operations = await changingOperations();
    expect(operations.length).toBeGreaterThan(20);
    const exempt: string[] = [];
    for (const { key, operation } of operations) {
      const declared = operation['x-preconditions'];
      expect({ key, declared }).toEqual({
        key,
        declared: expect.objectContaining({ kind: expect.stringMatching(/^(existing|unchanged|create|create-or-existing|none)$/) }),
      });
      if (declared!.kind === 'none') {
        expect({ key, reason: declared!.reason }).toEqual({ key, reason: expect.stringMatching(/\w{3}/) });
        expect(operation.parameters?.some((p) => p.in === 'header' && p.name === 'If-Match')).toBeFalsy();
        exempt.push(key);
        continue;
      }
      // The document states the header and the answer.
      expect({ key, ifMatch: operation.parameters?.some((p) => p.in === 'header' && p.name === 'If-Match') }).toEqual({ key, ifMatch: true });
      expect({ key, has412: '412' in operation.responses }).toEqual({ key, has412: true });
      // A case for every operation: one the document gains without one fails here.
      expect({ key, covered: key in ATTEMPTS }).toEqual({ key, covered: true });
      for (const attempt of await ATTEMPTS[key]()) {
        const before = await attempt.state();
        const res = await attempt.send({ 'If-Match': attempt.stale ?? STALE_ANY });
        expect({ key, attempt: attempt.label, status: res.status, detail: res.body?.detail }).toEqual({
          key,
          attempt: attempt.label,
          status: 412,
          detail: expect.any(String),
        });
        expectProblem(res, 412);
        expect({ key, attempt: attempt.label, state: await attempt.state() }).toEqual({ key, attempt: attempt.label, state: before });
      }
    }
    // Only tus, the session's own steps and an operation's cancel take none.
    expect(exempt.filter((key) => !['/tus', '/uploads/{id}', '/operations/{id}:cancel'].some((path) => key.includes(path)))).toEqual([]);
    expect(Object.keys(ATTEMPTS).filter((key) => !operations.some((o) => o.key === key))).toEqual([]);
  });

  test('the current ETag lets the change through', async () => {
    const { id, etag } = await assetWithStaleEtag();
    const renamed = await call(api(`/assets/${id}`), { method: 'PUT', json: { name: 'through' }, headers: { 'If-Match': etag } });
    expect(renamed.status).toBe(200);
    const version = await postFile(api(`/assets/${id}/versions`), { 'If-Match': renamed.headers.get('etag')! });
    expect(version.status).toBe(201);
    const etagOf = async () => (await call(api(`/assets/${id}`))).headers.get('etag')!;
    const session = await call(api('/uploads'), {
      method: 'POST',
      json: { name: 'next', size_bytes: 10, asset_id: id },
      headers: { 'If-Match': await etagOf() },
    });
    expect(session.status).toBe(201);
    expect((await call(api(`/uploads/${session.body.id}`), { method: 'DELETE' })).status).toBeLessThan(300);
    const copy = await call(api(`/assets/${id}/versions/${version.body.id}/restore`), { method: 'POST', headers: { 'If-Match': await etagOf() } });
    expect(copy.status).toBe(201);
    const url = await call(api(`/assets/${id}/url`), { method: 'POST', json: {}, headers: { 'If-Match': await etagOf() } });
    expect(url.status).toBe(200);
    const deleted = await call(api(`/assets/${id}`), { method: 'DELETE', headers: { 'If-Match': await etagOf() } });
    expect(deleted.status).toBe(204);
    const restored = await call(api(`/assets/${id}/restore`), {
      method: 'POST',
      headers: { 'If-Match': (await call(api(`/assets/${id}?include_deleted=true`))).headers.get('etag')! },
    });
    expect(restored.status).toBe(200);
    const purged = await call(api(`/assets/${id}?permanent=true`), { method: 'DELETE', headers: { 'If-Match': await etagOf() } });
    expect([202, 204]).toContain(purged.status);
  });
});

describe('STORAGE_REQUIRE_IF_MATCH', () => {
  test('a change of an existing resource without If-Match is 428 and changes nothing; with it, or a create, goes on', async () => {
    const strict = await serveWith(ctx, (config) => ({ ...config, requireIfMatch: true }));
    try {
      const at = (path: string) => `${strict.baseUrl}/api/v2${path}`;
      const { id, etag } = await assetWithStaleEtag();
      const before = await assetState(id);
      const refused = await call(at(`/assets/${id}`), { method: 'PUT', json: { name: 'unchecked' } });
      expectProblem(refused, 428);
      expectProblem(await call(at(`/assets/${id}`), { method: 'DELETE' }), 428);
      expectProblem(await call(at('/uploads'), { method: 'POST', json: { name: 'v', size_bytes: 10, asset_id: id } }), 428);
      expect(await assetState(id)).toEqual(before);
      expect((await call(at(`/assets/${id}`), { method: 'PUT', json: { name: 'checked' }, headers: { 'If-Match': etag } })).status).toBe(200);

      const policy = await call(at('/policies'), { method: 'POST', json: policyBody(unique('strict')) });
      expect(policy.status).toBe(201);
      expectProblem(await mergePatch(at(`/policies/${policy.body.id}`), { enabled: false }), 428);
      expectProblem(await call(at(`/quotas/${unique('strict-owner')}`), { method: 'PUT', json: { bytes: 1 } }), 428);
      // A signed URL changes nothing: it never needs one. Nor does a session without asset_id (a create).
      expect((await call(at(`/assets/${id}/url`), { method: 'POST', json: {} })).status).toBe(200);
      const session = await call(at('/uploads'), { method: 'POST', json: { name: 'new', size_bytes: 10 } });
      expect(session.status).toBe(201);
      expect((await call(at(`/uploads/${session.body.id}`), { method: 'DELETE' })).status).toBeLessThan(300);

      // The document says so: If-Match required, and 428.
      const doc = await call(`${strict.baseUrl}/openapi.json`);
      const put = doc.body.paths['/api/v2/assets/{id}'].put;
      expect(put.parameters.find((p: { name: string }) => p.name === 'If-Match')).toMatchObject({ in: 'header', required: true });
      expect(put.responses['428']).toBeDefined();
    } finally {
      await strict.close();
    }
  });
});

describe('If-None-Match: * on a create', () => {
  test('is accepted: the create goes on', async () => {
    const policy = await call(api('/policies'), { method: 'POST', json: policyBody(unique('inm')), headers: { 'If-None-Match': '*' } });
    expect(policy.status).toBe(201);
    const session = await call(api('/uploads'), { method: 'POST', json: { name: 'inm', size_bytes: 10 }, headers: { 'If-None-Match': '*' } });
    expect(session.status).toBe(201);
    expect((await call(api(`/uploads/${session.body.id}`), { method: 'DELETE' })).status).toBeLessThan(300);
    const asset = await postFile(api('/assets/upload'), { 'If-None-Match': '*' });
    expect(asset.status).toBe(201);
  });
});

describe('ETags and 304 on the GETs of grants, policies and quotas', () => {
  test('each answers its ETag; If-None-Match with it is 304 (as on the asset); a change moves it', async () => {
    const { id } = await assetWithStaleEtag();
    const policy = await call(api('/policies'), { method: 'POST', json: policyBody(unique('etag')) });
    const owner = unique('etag-owner');
    const reads = [api(`/assets/${id}/grants`), api(`/policies/${policy.body.id}`), api(`/quotas/${owner}`), api(`/assets/${id}`)];
    const changes = [
      () => call(api(`/assets/${id}/grants`), { method: 'PUT', json: [{ subject: 'group:gm', access: 'read' }] }),
      () => mergePatch(api(`/policies/${policy.body.id}`), { description: 'changed' }),
      () => mergePatch(api(`/quotas/${owner}`), { assets: 9 }),
      () => mergePatch(api(`/assets/${id}`), { name: 'etag' }),
    ];
    for (const [i, url] of reads.entries()) {
      const first = await call(url);
      expect(first.status).toBe(200);
      const etag = first.headers.get('etag');
      expect(etag).toMatch(/^"[a-z]\d+"$/);
      const again = await fetch(url, { headers: { ...(await bearer()), 'If-None-Match': etag! } });
      expect({ url, status: again.status }).toEqual({ url, status: 304 });
      const changed = await changes[i]();
      expect(changed.status).toBe(200);
      expect(changed.headers.get('etag')).not.toBe(etag);
      const after = await call(url, { headers: { 'If-None-Match': etag! } });
      expect({ url, status: after.status }).toEqual({ url, status: 200 });
      expect(after.headers.get('etag')).toBe(changed.headers.get('etag'));
    }
    expect((await call(api(`/assets/${id}/grants`))).body).toEqual({ grants: [{ subject: 'group:gm', access: 'read' }] });
    expect((await call(api(`/quotas/${owner}`))).body).toMatchObject({ owner_id: owner, bytes: null, assets: 9, quota: { assets: 9 } });
  });

  test('GET grants is as PUT: the owner, not a grantee (403) nor a stranger (404); GET quotas is for admins (403)', async () => {
    const owner = await as(unique('owner'));
    const made = await postFile(api('/assets/upload'), {}, owner);
    expect(made.status).toBe(201);
    expect((await call(api(`/assets/${made.body.id}/grants`), { method: 'PUT', json: [{ subject: 'user:reader-1', access: 'read' }], as: owner })).status).toBe(
      200,
    );
    expect((await call(api(`/assets/${made.body.id}/grants`), { as: owner })).status).toBe(200);
    expectProblem(await call(api(`/assets/${made.body.id}/grants`), { as: await as('reader-1') }), 403);
    expectProblem(await call(api(`/assets/${made.body.id}/grants`), { as: await as('stranger-1') }), 404);
    expectProblem(await call(api('/quotas/anyone'), { as: owner }), 403);
  });
});

describe('PATCH with application/merge-patch+json', () => {
  test('an asset: a change, a null removes a metadata key, a stale If-Match is 412, another media type 415', async () => {
    const { id, etag } = await assetWithStaleEtag();
    expect((await call(api(`/assets/${id}`), { method: 'PUT', json: { metadata: { class: 'bard', level: '3' } }, headers: { 'If-Match': etag } })).status).toBe(
      200,
    );
    const patched = await mergePatch(api(`/assets/${id}`), { name: 'patched', metadata: { level: null, race: 'elf' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'patched', metadata: { class: 'bard', race: 'elf' }, tags: ['moved'] });
    expect(patched.body.metadata).not.toHaveProperty('level');
    const emptied = await mergePatch(api(`/assets/${id}`), { tags: null }, { 'If-Match': patched.headers.get('etag')! });
    expect(emptied.status).toBe(200);
    expect(emptied.body).toMatchObject({ tags: [], metadata: { class: 'bard', race: 'elf' } });
    const before = await assetState(id);
    expectProblem(await mergePatch(api(`/assets/${id}`), { name: 'late' }, { 'If-Match': patched.headers.get('etag')! }), 412);
    expectProblem(await mergePatch(api(`/assets/${id}`), { name: 'json' }, {}, 'application/json'), 415);
    expectProblem(await mergePatch(api(`/assets/${id}`), { name: null }), 400);
    expectProblem(await mergePatch(api(`/assets/${id}`), { colour: 'red' }), 400);
    expect(await assetState(id)).toEqual(before);
    // PUT keeps working as it did.
    expect((await call(api(`/assets/${id}`), { method: 'PUT', json: { name: 'put' } })).body).toMatchObject({ name: 'put', tags: [] });
  });

  test('a policy: a change, a null removes a filter member, a stale If-Match is 412, another media type 415', async () => {
    const made = await call(api('/policies'), {
      method: 'POST',
      json: { ...policyBody(unique('patch')), description: 'kept', filter: { name_prefix: 'maps/', tags: ['old'] } },
    });
    const id = made.body.id;
    const patched = await mergePatch(
      api(`/policies/${id}`),
      { enabled: false, filter: { tags: null, content_type: 'image/*' } },
      { 'If-Match': made.headers.get('etag')! },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      enabled: false,
      description: 'kept',
      filter: { name_prefix: 'maps/', content_type: 'image/*' },
      rules: policyBody('x').rules,
    });
    expect(patched.body.filter).not.toHaveProperty('tags');
    const cleared = await mergePatch(api(`/policies/${id}`), { description: null, filter: null });
    expect(cleared.body).toMatchObject({ description: '', filter: {} });
    const before = await policyState(id);
    expectProblem(await mergePatch(api(`/policies/${id}`), { enabled: true }, { 'If-Match': made.headers.get('etag')! }), 412);
    expectProblem(await mergePatch(api(`/policies/${id}`), { enabled: true }, {}, 'application/json'), 415);
    expectProblem(await mergePatch(api(`/policies/${id}`), { rules: null }), 400);
    expectProblem(await mergePatch(api(`/policies/${id}`), { colour: 'red' }), 400);
    expect(await policyState(id)).toEqual(before);
  });

  test('a quota: a change, a null goes back to the default, a stale If-Match is 412, another media type 415', async () => {
    const owner = unique('patch-owner');
    const first = await mergePatch(api(`/quotas/${owner}`), { bytes: 5000, assets: 5 });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ owner_id: owner, bytes: 5000, assets: 5, quota: { bytes: 5000, assets: 5 } });
    const back = await mergePatch(api(`/quotas/${owner}`), { bytes: null }, { 'If-Match': first.headers.get('etag')! });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ bytes: null, assets: 5, quota: { bytes: ctx.config.quotas.bytesPerOwner, assets: 5 } });
    const before = await ctx.db('owner_quotas').where({ owner_id: owner }).first();
    expectProblem(await mergePatch(api(`/quotas/${owner}`), { assets: 1 }, { 'If-Match': first.headers.get('etag')! }), 412);
    expectProblem(await mergePatch(api(`/quotas/${owner}`), { assets: 1 }, {}, 'application/json'), 415);
    expectProblem(await mergePatch(api(`/quotas/${owner}`), { files: 1 }), 400);
    expect(await ctx.db('owner_quotas').where({ owner_id: owner }).first()).toEqual(before);
    // Both back to the default: no override row, and its ETag never comes back.
    const none = await mergePatch(api(`/quotas/${owner}`), { assets: null });
    expect(none.body).toMatchObject({ bytes: null, assets: null });
    expect(await ctx.db('owner_quotas').where({ owner_id: owner })).toEqual([]);
    expectProblem(await mergePatch(api(`/quotas/${owner}`), { assets: 2 }, { 'If-Match': first.headers.get('etag')! }), 412);
  });

  test('an empty merge patch changes nothing (RFC 7396): the ETag stays, and an asset announces no change', async () => {
    const { id, etag } = await assetWithStaleEtag();
    const events = () => ctx.db('outbox_events').where({ subject: id }).count({ n: '*' }).first();
    const eventsBefore = await events();
    const asset = await mergePatch(api(`/assets/${id}`), {}, { 'If-Match': etag });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('etag')).toBe(etag);
    expect(await events()).toEqual(eventsBefore);
    const policy = await call(api('/policies'), { method: 'POST', json: policyBody(unique('empty')) });
    const policyPatched = await mergePatch(api(`/policies/${policy.body.id}`), {}, { 'If-Match': policy.headers.get('etag')! });
    expect(policyPatched.status).toBe(200);
    expect(policyPatched.headers.get('etag')).toBe(policy.headers.get('etag'));
    const owner = unique('empty-owner');
    const quota = await mergePatch(api(`/quotas/${owner}`), { bytes: 5000 });
    const quotaPatched = await mergePatch(api(`/quotas/${owner}`), {}, { 'If-Match': quota.headers.get('etag')! });
    expect(quotaPatched.status).toBe(200);
    expect(quotaPatched.headers.get('etag')).toBe(quota.headers.get('etag'));
    // Still compared: a stale If-Match is 412 all the same.
    expectProblem(await mergePatch(api(`/assets/${id}`), {}, { 'If-Match': STALE_ANY }), 412);
  });

  test('two PATCHes sent at once with the same If-Match: exactly one 200, one 412', async () => {
    const { id, etag } = await assetWithStaleEtag();
    const policy = await call(api('/policies'), { method: 'POST', json: policyBody(unique('race')) });
    const quota = await call(api(`/quotas/${unique('race-owner')}`));
    const cases = [
      { url: api(`/assets/${id}`), etag, bodies: [{ name: 'one' }, { name: 'two' }] },
      { url: api(`/policies/${policy.body.id}`), etag: policy.headers.get('etag')!, bodies: [{ description: 'one' }, { description: 'two' }] },
      { url: api(`/quotas/${quota.body.owner_id}`), etag: quota.headers.get('etag')!, bodies: [{ bytes: 1 }, { bytes: 2 }] },
    ];
    for (const { url, etag: sent, bodies } of cases) {
      const answers = await Promise.all(bodies.map((body) => mergePatch(url, body, { 'If-Match': sent })));
      expect({ url, statuses: answers.map((a) => a.status).sort() }).toEqual({ url, statuses: [200, 412] });
      // The one that went through is what the resource now is.
      const winner = answers.find((a) => a.status === 200)!;
      expect((await call(url)).headers.get('etag')).toBe(winner.headers.get('etag'));
    }
  });
});

describe("a new version's If-Match", () => {
  test('two new versions opened with the same If-Match: the first commits, the second is 412 at its complete and changes nothing', async () => {
    const { id, etag } = await assetWithStaleEtag();
    const open = () => call(api('/uploads'), { method: 'POST', json: { asset_id: id, name: 'version.bin', size_bytes: 100 }, headers: { 'If-Match': etag } });
    const first = await open();
    const second = await open();
    expect([first.status, second.status]).toEqual([201, 201]);
    for (const session of [first, second]) expect((await putPart(ctx.baseUrl, session.body.id, 1, bytesOf(100))).status).toBe(200);
    const committed = await completeUpload(ctx.baseUrl, first.body.id);
    expect(committed.status).toBe(200);
    const before = await assetState(id);
    expect(before.row.current_version_id).toBe(first.body.version_id ?? before.row.current_version_id);
    // Its If-Match held when it opened, not when it would have been written: the asset has moved since.
    expectProblem(await completeUpload(ctx.baseUrl, second.body.id), 412);
    expect(await assetState(id)).toEqual(before);
    expect((await call(api(`/uploads/${second.body.id}`))).body.status).toBe('failed');
  });
});
