/**
 * The audit log (issue 14), over HTTP against the real servers: a change and its row come together,
 * a refused change leaves only its row, accepted work gets the request's row and the workflow's commit
 * its own (with the run's actor), admin and service reads of others' content are logged, a flood of
 * refusals folds into a bounded number of rows, retention removes old rows, and GET /api/v2/audit is
 * for admins, with its filters, its cursor and its 400s.
 */
import http from 'node:http';
import { ROUTES } from '../api/routes';
import { CHANGE_ACTIONS, CONTENT_READS, READ_ACTIONS } from '../api/middleware/auditTrail';
import { TEST_ADMIN, tokenFor } from './support/auth';
import { bytesOf, sha256 } from './support/assets';
import { awaitJob } from './support/backups';
import { addVersion, settled } from './support/catalog';
import { uuidv7 } from '../lib/platform/ids';
import { SYSTEM_ACTOR_REF } from '../workflows/shared/actor';
import type { backupRetentionWorkflow } from '../workflows/backups/retention';
import { useTestService, startTestService } from './support/context';
import { seedAssets } from './support/lifecycle';
import { call, expectProblem, type JsonAnswer } from './support/http';
import { envFor, spawnService, waitUntil } from './support/processes';
import { freePorts } from '../scripts/stack';

const ctx = useTestService();
type Caller = 'alice' | 'bob' | 'frank' | 'gina' | 'service' | 'admin';
const as = {} as Record<Caller, string>;

beforeAll(async () => {
  Object.assign(as, {
    alice: await tokenFor({ sub: 'alice' }),
    bob: await tokenFor({ sub: 'bob', groups: ['party'] }),
    frank: await tokenFor({ sub: 'frank' }),
    gina: await tokenFor({ sub: 'gina' }),
    service: await tokenFor({ sub: 'campaign-service', roles: ['storage:service'] }),
    admin: await tokenFor({ sub: 'root', roles: ['storage:admin'] }),
  });
});

const url = (path: string) => `${ctx.baseUrl}/api/v2${path}`;

function form(fields: Record<string, string>, file: Buffer = bytesOf(64)): FormData {
  const body = new FormData();
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  body.append('file', new Blob([file]), 'file.bin');
  return body;
}

async function newAsset(token: string, name: string): Promise<{ id: string; current_version_id: string }> {
  const res = await call(url('/assets/upload'), { method: 'POST', body: form({ name }), as: token });
  return (await settled(ctx.baseUrl, res, 'asset')).body;
}

/** Every row GET /audit answers for `query`, page by page. */
async function audit(query: Record<string, string> = {}, limit = 1000): Promise<any[]> {
  const rows: any[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
    const page: JsonAnswer = await call(url(`/audit?${params}`), { as: as.admin });
    expect(page.status).toBe(200);
    rows.push(...page.body.items);
    cursor = page.body.next_cursor;
  } while (cursor);
  return rows;
}

/** Waits until GET /audit answers rows for `query` that `done` accepts. */
function auditUntil(what: string, query: Record<string, string>, done: (rows: any[]) => boolean, timeoutMs = 30_000): Promise<any[]> {
  return waitUntil(
    what,
    async () => {
      const rows = await audit(query);
      return done(rows) && rows;
    },
    timeoutMs,
    100,
  );
}

const withRequestId = (id: string, token: string) => ({ as: token, headers: { 'X-Request-Id': id, 'User-Agent': 'audit-test/1.0' } });

describe('the route table', () => {
  it('names an action for every route that changes state, and only for routes that exist', () => {
    const changing = ROUTES.filter((r) => r.method !== 'get').map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(Object.keys(CHANGE_ACTIONS).sort()).toEqual(changing.sort());
    const reads = ROUTES.filter((r) => r.method === 'get').map((r) => `GET ${r.path}`);
    expect(reads).toEqual(expect.arrayContaining(Object.keys(CONTENT_READS)));
  });

  it('names an action for every read of the API, whose refusals get rows', () => {
    const reads = ROUTES.filter((r) => r.method === 'get' && r.path.startsWith('/api/v2/')).map((r) => `GET ${r.path}`);
    expect(Object.keys(READ_ACTIONS).sort()).toEqual(reads.sort());
    for (const [route, action] of Object.entries(CONTENT_READS)) expect(READ_ACTIONS[route]).toBe(action);
  });
});

describe('changes and refusals', () => {
  it('a change the API makes has its row as soon as it answers, with the actor, subject, outcome and request', async () => {
    const asset = await newAsset(as.alice, 'map.png');
    const res = await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { name: 'map-2.png' }, ...withRequestId('audit-put-1', as.alice) });
    expect(res.status).toBe(200);
    // No waiting: the row was committed with the change.
    const rows = await audit({ subject: asset.id, action: 'asset.update' });
    expect(rows).toEqual([
      {
        id: expect.any(String),
        at: expect.any(String),
        actor: { sub: 'alice', roles: [] },
        action: 'asset.update',
        subjects: { asset_id: asset.id },
        outcome: '200',
        count: 1,
        request_id: 'audit-put-1',
        request_ids: ['audit-put-1'],
        client_address: expect.stringMatching(/127\.0\.0\.1/),
        user_agent: 'audit-test/1.0',
      },
    ]);
    expect((await call(url(`/assets/${asset.id}`), { as: as.alice })).body.name).toBe('map-2.png');

    const policy = await call(url('/policies'), {
      method: 'POST',
      json: { name: 'audit-policy', rules: [{ action: 'purge_deleted', days: 30 }] },
      ...withRequestId('audit-policy-1', as.admin),
    });
    expect(policy.status).toBe(201);
    expect(await audit({ subject: policy.body.id })).toEqual([
      expect.objectContaining({ actor: { sub: 'root', roles: ['storage:admin'] }, action: 'policy.create', outcome: '201', request_id: 'audit-policy-1' }),
    ]);
    expect((await call(url(`/policies/${policy.body.id}`), { method: 'DELETE', as: as.admin })).status).toBe(204);
    expect((await audit({ subject: policy.body.id })).map((r) => [r.action, r.outcome])).toEqual([
      ['policy.delete', '204'],
      ['policy.create', '201'],
    ]);
  });

  it('a refused change leaves everything as it was, and its row (401, 403, 404, 409, 422)', async () => {
    const asset = await newAsset(as.alice, 'shared.png');
    expect((await call(url(`/assets/${asset.id}/grants`), { method: 'PUT', json: [{ subject: 'group:party', access: 'read' }], as: as.alice })).status).toBe(
      200,
    );
    const before = await call(url(`/assets/${asset.id}`), { as: as.alice });
    const events = async () => Number((await ctx.db('outbox_events').count({ n: '*' }))[0].n);
    const eventsBefore = await events();

    const refusals: Array<[string, JsonAnswer, number]> = [
      ['asset.update', await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { name: 'mine now' }, ...withRequestId('audit-403', as.bob) }), 403],
      ['asset.delete', await call(url(`/assets/${asset.id}`), { method: 'DELETE', ...withRequestId('audit-401', 'not-a-token') }), 401],
      ['asset.delete', await call(url(`/assets/${asset.id}`), { method: 'DELETE', ...withRequestId('audit-404', as.gina) }), 404],
      ['asset.restore', await call(url(`/assets/${asset.id}/restore`), { method: 'POST', ...withRequestId('audit-409', as.alice) }), 409],
      [
        'version.upload',
        await call(url(`/assets/${asset.id}/versions`), {
          method: 'POST',
          body: form({ checksum_sha256: sha256(Buffer.from('something else')) }),
          ...withRequestId('audit-422', as.alice),
        }),
        422,
      ],
    ];
    for (const [, res, status] of refusals) expectProblem(res, status);

    const after = await call(url(`/assets/${asset.id}`), { as: as.alice });
    expect({ body: after.body, etag: after.headers.get('etag') }).toEqual({ body: before.body, etag: before.headers.get('etag') });
    expect(await events()).toBe(eventsBefore);
    expect(await ctx.db('asset_versions').where({ asset_id: asset.id }).count({ n: '*' })).toEqual([{ n: 1 }]);

    for (const [action, res, status] of refusals) {
      const requestId = res.headers.get('x-request-id')!;
      const [row] = await auditUntil(`the ${status} row`, { action, outcome: String(status) }, (rows) => rows.some((r) => r.request_id === requestId));
      expect(row).toMatchObject({ action, outcome: String(status), subjects: { asset_id: asset.id }, count: 1 });
    }
    const [unauthenticated] = await audit({ action: 'asset.delete', outcome: '401' });
    expect(unauthenticated).toMatchObject({ actor: null, client_address: expect.stringMatching(/127\.0\.0\.1/), user_agent: 'audit-test/1.0' });
    expect((await audit({ action: 'asset.update', outcome: '403' }))[0].actor).toEqual({ sub: 'bob', roles: [] });
  });

  it('a request whose client leaves before the answer has its row too (outcome closed)', async () => {
    const { hostname, port } = new URL(ctx.baseUrl);
    const req = http.request({
      hostname,
      port,
      method: 'POST',
      path: '/api/v2/assets/upload',
      headers: { authorization: `Bearer ${as.gina}`, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(1 << 20) },
    });
    req.on('error', () => {});
    req.write('--x\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n' + 'a'.repeat(4096));
    // The upload has begun once its session is open: then the client goes.
    await waitUntil('the session to open', async () => (await ctx.db('upload_sessions').where({ owner_id: 'gina' }).first()) !== undefined);
    req.destroy();
    const [row] = await auditUntil('the closed request', { actor: 'gina', outcome: 'closed' }, (rows) => rows.length === 1);
    expect(row).toMatchObject({ action: 'asset.upload', count: 1 });
  });

  it('reads of content by an admin or a service of an asset not theirs are logged; the owner’s are not', async () => {
    const asset = await newAsset(as.alice, 'read me.png');
    const own = await newAsset(as.admin, 'the admin’s own.png');
    const read = (path: string, id: string, token: string) => call(url(path), withRequestId(id, token));
    expect((await read(`/assets/${asset.id}/content`, 'read-owner', as.alice)).status).toBe(200);
    expect((await read(`/assets/${own.id}/content`, 'read-admin-own', as.admin)).status).toBe(200);
    expect((await read(`/assets/${asset.id}/content`, 'read-service', as.service)).status).toBe(200);
    expect((await read(`/assets/${asset.id}/versions/${asset.current_version_id}/content`, 'read-admin', as.admin)).status).toBe(200);

    const rows = await auditUntil('both reads', { subject: asset.id }, (all) => all.filter((r) => r.action.endsWith('.read_content')).length === 2);
    const reads = rows.filter((r) => r.action.endsWith('.read_content'));
    expect(reads).toEqual([
      expect.objectContaining({
        action: 'version.read_content',
        actor: { sub: 'root', roles: ['storage:admin'] },
        outcome: '200',
        subjects: { asset_id: asset.id, version_id: asset.current_version_id },
        request_id: 'read-admin',
      }),
      expect.objectContaining({ action: 'asset.read_content', actor: { sub: 'campaign-service', roles: ['storage:service'] }, request_id: 'read-service' }),
    ]);
    const all = await audit();
    expect(all.filter((r) => r.request_id === 'read-owner' || r.request_id === 'read-admin-own')).toEqual([]);
  });
});

describe('refused reads', () => {
  it('a refused read of someone else’s asset leaves its row, as a refused change does (401, 403, 404)', async () => {
    const asset = await newAsset(as.alice, 'private map.png');
    const signed = await call(url(`/assets/${asset.id}/url`), { method: 'POST', json: {}, as: as.alice });
    const forged = new URL(signed.body.url, ctx.baseUrl);
    forged.searchParams.set(
      'sig',
      forged.searchParams.get('sig')!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
    );
    const reads: Array<[string, string, string | null, number, string | null]> = [
      ['asset.read', `/assets/${asset.id}`, as.gina, 404, 'gina'],
      ['asset.read_content', `/assets/${asset.id}/content`, as.gina, 404, 'gina'],
      ['version.list', `/assets/${asset.id}/versions`, as.gina, 404, 'gina'],
      ['version.read_content', `/assets/${asset.id}/versions/${asset.current_version_id}/content`, as.gina, 404, 'gina'],
      ['asset.read', `/assets/${asset.id}`, 'not-a-token', 401, null],
      ['audit.list', '/audit', as.gina, 403, 'gina'],
      ['asset.read_signed_content', `${forged.pathname.replace('/api/v2', '')}${forged.search}`, null, 403, null],
    ];
    for (const [action, path, token, status, actor] of reads) {
      const requestId = `refused-read-${action}-${status}`;
      const res = await call(url(path), withRequestId(requestId, token!));
      expect([path, res.status]).toEqual([path, status]);
      const row = (
        await auditUntil(`the ${action} ${status} row`, { action, outcome: String(status) }, (rows) => rows.some((r) => r.request_id === requestId))
      ).find((r) => r.request_id === requestId);
      expect(row).toMatchObject({ action, outcome: String(status), count: 1, request_ids: [requestId], actor: actor && { sub: actor, roles: [] } });
      if (path.includes(asset.id)) expect(row.subjects).toMatchObject({ asset_id: asset.id });
    }
    // The owner's own reads leave none.
    expect((await call(url(`/assets/${asset.id}`), withRequestId('owner-read', as.alice))).status).toBe(200);
    expect((await audit()).filter((r) => r.request_id === 'owner-read')).toEqual([]);
  });

  it('1,000 refused reads fold into a row a minute, every one counted, the first 100 request ids kept; a request id finds its row', async () => {
    const asset = await newAsset(as.alice, 'probed.png');
    const requests = 1000;
    let statements = 0;
    const countAuditWrites = (q: { sql: string }) => void (/^insert into "audit_log"/.test(q.sql) && (statements += 1));
    ctx.db.on('query', countAuditWrites);
    const sent = Array.from({ length: requests }, (_, i) => `probe-${i}`);
    const started = Date.now();
    const statuses: number[] = [];
    try {
      for (let i = 0; i < requests; i += 50) {
        const answers = await Promise.all(sent.slice(i, i + 50).map((id) => call(url(`/assets/${asset.id}`), withRequestId(id, as.frank))));
        statuses.push(...answers.map((r) => r.status));
      }
      const ended = Date.now();
      expect(statuses.filter((s) => s === 404)).toHaveLength(requests);
      const counted = (rows: any[]) => rows.reduce((sum, r) => sum + r.count, 0);
      const rows = await auditUntil('every refused read counted', { actor: 'frank', action: 'asset.read', outcome: '404' }, (all) => counted(all) === requests);
      expect(rows.length).toBeLessThanOrEqual(Math.floor(ended / 60_000) - Math.floor(started / 60_000) + 1);
      for (const row of rows) {
        expect(row.request_ids).toHaveLength(Math.min(row.count, 100));
        expect(row.request_ids[0]).toBe(row.request_id);
        expect(new Set(row.request_ids).size).toBe(row.request_ids.length);
        expect(sent).toEqual(expect.arrayContaining(row.request_ids));
        expect(row.subjects).toEqual({ asset_id: asset.id });
      }
      const kept = rows[0].request_ids[rows[0].request_ids.length - 1];
      expect((await audit({ request_id: kept })).map((r) => r.id)).toEqual([rows[0].id]);
      expect(statements).toBeLessThan(requests);
      ctx.logger.info('refused reads folded', { requests, rows: rows.length, statements, flood_ms: ended - started });
      process.stdout.write(`[audit] ${requests} refused reads: ${rows.length} row(s), ${statements} statement(s), ${ended - started} ms\n`);
    } finally {
      ctx.db.off('query', countAuditWrites);
    }
  }, 180_000);
});

describe('workflow commits', () => {
  it('an upload: the request’s row, and the commit’s row acting for the uploader', async () => {
    const res = await call(url('/assets/upload'), { method: 'POST', body: form({ name: 'committed.png' }), as: as.alice });
    const asset = (await settled(ctx.baseUrl, res, 'asset')).body;
    const rows = await auditUntil('the request and the commit', { subject: asset.id }, (all) => all.length === 2);
    const commit = rows.find((r) => r.action === 'upload.commit');
    expect(commit).toMatchObject({
      actor: { sub: 'alice', roles: [] },
      outcome: 'completed',
      subjects: { asset_id: asset.id, version_id: asset.current_version_id, upload_id: expect.any(String) },
      request_id: `upload-${commit.subjects.upload_id}`,
    });
    expect(rows.find((r) => r.action === 'asset.upload')).toMatchObject({ actor: { sub: 'alice', roles: [] }, outcome: String(res.status) });
  });

  it('an aborted session: the request’s row, and the workflow’s discard', async () => {
    const opened = await call(url('/uploads'), { method: 'POST', json: { name: 'never.bin', size_bytes: 10, part_size_bytes: 5 * 1024 * 1024 }, as: as.alice });
    expect(opened.status).toBe(201);
    const id = opened.body.id;
    await auditUntil('the open request', { subject: id }, (rows) => rows.length === 1);
    expect((await call(url(`/uploads/${id}`), { method: 'DELETE', as: as.alice })).status).toBe(204);
    const rows = await auditUntil('the abort and the discard', { subject: id }, (all) => all.length === 3);
    expect(rows.map((r) => [r.actor.sub, r.action, r.outcome]).sort()).toEqual([
      ['alice', 'upload.abort', '204'],
      ['alice', 'upload.discard', 'aborted'],
      ['alice', 'upload.open', '201'],
    ]);
    expect(rows.find((r) => r.action === 'upload.discard').request_id).toBe(`upload-${id}`);
  });

  it('a permanent deletion, a sweep and a restore: each commit acts for whoever started it', async () => {
    const asset = await newAsset(as.alice, 'to purge.png');
    const backup = await call(url('/backups'), { method: 'POST', json: { asset_ids: [asset.id] }, as: as.admin });
    expect(backup.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).toMatchObject({ status: 'completed' });

    expect(await audit({ subject: backup.body.id, action: 'backup.complete' })).toEqual([
      expect.objectContaining({ actor: { sub: 'root', roles: ['storage:admin'] }, outcome: 'completed', request_id: backup.body.workflow_id }),
    ]);

    const deleted = await call(url(`/assets/${asset.id}?permanent=true`), { method: 'DELETE', as: as.alice });
    expect([202, 204]).toContain(deleted.status);
    const [purge] = await auditUntil('the purge', { subject: asset.id, action: 'asset.purge' }, (rows) => rows.length === 1);
    expect(purge).toMatchObject({ actor: { sub: 'alice', roles: [] }, outcome: 'completed', request_id: expect.stringContaining(asset.id) });

    const restore = await call(url(`/backups/${backup.body.id}/restore`), { method: 'POST', json: { dry_run: false }, as: as.admin });
    expect(restore.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/restores/${restore.body.id}`)).toMatchObject({ status: 'completed' });
    expect(await audit({ subject: restore.body.id })).toEqual([
      expect.objectContaining({
        action: 'restore.asset',
        actor: { sub: 'root', roles: ['storage:admin'] },
        outcome: 'completed',
        subjects: { asset_id: asset.id, backup_id: backup.body.id, restore_id: restore.body.id },
        request_id: restore.body.workflow_id,
      }),
      expect.objectContaining({ action: 'backup.restore', outcome: '202', subjects: { backup_id: backup.body.id, restore_id: restore.body.id } }),
    ]);

    const [stale] = await seedAssets(ctx, [{ name: 'audit/stale.png', updatedDaysAgo: 400 }]);
    const policy = await call(url('/policies'), {
      method: 'POST',
      json: { name: 'audit-expiry', filter: { name_prefix: 'audit/' }, rules: [{ action: 'expire_assets', days: 365 }] },
      as: as.admin,
    });
    const run = await call(url('/lifecycle/runs'), { method: 'POST', json: { policy_id: policy.body.id, dry_run: false }, as: as.admin });
    expect(run.status).toBe(202);
    expect(await awaitJob(ctx, `/api/v2/lifecycle/runs/${run.body.id}`)).toMatchObject({ status: 'completed' });
    expect(await audit({ subject: stale.id })).toEqual([
      expect.objectContaining({
        action: 'lifecycle.expire_asset',
        actor: { sub: 'root', roles: ['storage:admin'] },
        outcome: 'completed',
        request_id: run.body.workflow_id ?? `lifecycle-${run.body.id}`,
      }),
    ]);
  });

  it('versions pruned past STORAGE_MAX_VERSIONS, and backups removed by retention', async () => {
    const asset = await newAsset(as.alice, 'many versions.png');
    for (let i = 0; i < ctx.config.versions.max; i++) await addVersion(ctx.baseUrl, asset.id, bytesOf(16), {}, 'v.bin');
    const [pruned] = await auditUntil('the prune', { subject: asset.id, action: 'version.prune' }, (rows) => rows.length === 1);
    // The upload that made the eleventh version pruned the first: the suite's admin sent it.
    expect(pruned).toMatchObject({
      actor: { sub: TEST_ADMIN.sub, roles: TEST_ADMIN.roles },
      outcome: 'completed',
      subjects: { asset_id: asset.id, version_id: asset.current_version_id },
      request_id: expect.stringMatching(/^upload-/),
    });

    const backup = await call(url('/backups'), { method: 'POST', json: { asset_ids: [asset.id] }, as: as.admin });
    expect(await awaitJob(ctx, `/api/v2/backups/${backup.body.id}`)).toMatchObject({ status: 'completed' });
    await ctx
      .db('backup_jobs')
      .where({ id: backup.body.id })
      .update({ expires_at: new Date(Date.now() - 86_400_000) });
    // As the storage-backup schedule starts it, acting for the system.
    const sweepId = uuidv7();
    await ctx.temporal.client.workflow.execute<typeof backupRetentionWorkflow>('backupRetentionWorkflow', {
      workflowId: `backup-retention-${sweepId}`,
      taskQueue: ctx.config.temporal.taskQueue,
      args: [{ sweepId, actor: SYSTEM_ACTOR_REF }],
    });
    expect(await audit({ subject: backup.body.id, action: 'backup.expire' })).toEqual([
      expect.objectContaining({ actor: { sub: 'system', roles: ['storage:admin'] }, outcome: 'completed', request_id: `backup-retention-${sweepId}` }),
    ]);
  });
});

describe('a flood of refusals', () => {
  it('folds thousands of 401s and 403s into a few rows, counted exactly, and the service keeps answering', async () => {
    const size = async () => Number((await ctx.db.raw("SELECT pg_total_relation_size('audit_log') AS n")).rows[0].n);
    const sizeBefore = await size();
    const unauthenticated = 2000;
    const forbidden = 1000;
    const sends = [
      ...Array.from({ length: unauthenticated }, () => () => call(url('/policies'), { method: 'POST', json: {}, as: 'not-a-token' })),
      ...Array.from({ length: forbidden }, () => () => call(url('/backups'), { method: 'POST', json: {}, as: as.frank })),
    ];
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < sends.length; i += 50) statuses.push(...(await Promise.all(sends.slice(i, i + 50).map((send) => send()))).map((r) => r.status));
    const floodMs = Date.now() - started;
    const ended = Date.now();
    expect(statuses.filter((s) => s === 401)).toHaveLength(unauthenticated);
    expect(statuses.filter((s) => s === 403)).toHaveLength(forbidden);
    expect(floodMs).toBeLessThan(120_000);

    // Every refusal is counted, in rows of one minute each per actor, action and outcome.
    const counted = (rows: any[]) => rows.reduce((sum, r) => sum + r.count, 0);
    const policyRows = await auditUntil('every 401 counted', { action: 'policy.create', outcome: '401' }, (rows) => counted(rows) === unauthenticated);
    const backupRows = await auditUntil(
      'every 403 counted',
      { action: 'backup.create', outcome: '403', actor: 'frank' },
      (rows) => counted(rows) === forbidden,
    );
    const minutes = Math.floor(ended / 60_000) - Math.floor(started / 60_000) + 1;
    expect(policyRows.length).toBeLessThanOrEqual(minutes);
    expect(backupRows.length).toBeLessThanOrEqual(minutes);
    expect(policyRows[0]).toMatchObject({ actor: null, client_address: expect.stringMatching(/127\.0\.0\.1/) });
    // Each row names its first 100 requests, each once.
    for (const row of [...policyRows, ...backupRows]) expect(new Set(row.request_ids).size).toBe(Math.min(row.count, 100));
    const grown = (await size()) - sizeBefore;
    expect(grown).toBeLessThan(1024 * 1024);

    // The service answers as before once the flood has gone by.
    const t = Date.now();
    expect((await call(url('/assets?limit=1'), { as: as.alice })).status).toBe(200);
    const afterMs = Date.now() - t;
    ctx.logger.info('audit flood', {
      requests: sends.length,
      flood_ms: floodMs,
      per_second: Math.round(sends.length / (floodMs / 1000)),
      rows: policyRows.length + backupRows.length,
      table_growth_bytes: grown,
      next_request_ms: afterMs,
    });
    expect(afterMs).toBeLessThan(5_000);
  }, 180_000);
});

describe('an API process that stops', () => {
  it('writes the refusals it answered while it stopped before it exits', async () => {
    const [port] = await freePorts(1);
    const api = spawnService('api/server.ts', envFor(ctx.config, { STORAGE_PORT: String(port), STORAGE_SHUTDOWN_DRAIN_MS: '0', STORAGE_LOG_LEVEL: 'info' }));
    const base = `http://127.0.0.1:${port}/api/v2`;
    const exited = new Promise<number | string | null>((resolve) => api.child.once('exit', (code, signal) => resolve(signal ?? code)));
    // The test's own connection locks the assets: the reads wait there until the API is stopping.
    const lock = await ctx.db.transaction();
    try {
      await waitUntil('the API to listen', async () => (await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined))?.ok);
      await lock.raw('LOCK TABLE assets IN ACCESS EXCLUSIVE MODE');
      const requestIds = [1, 2, 3].map((n) => `stopping-${port}-${n}`);
      // A user of their own: refusals of one minute, user, action and outcome share a row.
      const reader = await tokenFor({ sub: `stopping-${port}` });
      const reads = requestIds.map((id) => call(`${base}/assets/${uuidv7()}`, { as: reader, headers: { 'x-request-id': id } }));
      await waitUntil('the reads to wait for the assets', async () => {
        const waiting = await ctx.db('pg_stat_activity').whereRaw('datname = current_database()').where({ wait_event_type: 'Lock' }).count({ n: '*' });
        return Number(waiting[0].n) >= requestIds.length;
      });
      api.child.kill('SIGTERM');
      await waitUntil('the API to drain', async () => api.output().includes('api draining'));
      await lock.commit();
      expect((await Promise.all(reads)).map((r) => r.status)).toEqual([404, 404, 404]);
      expect(await exited).toBe(0);
      const rows = await ctx.db('audit_log').whereRaw('request_ids && ?::text[]', [requestIds]).select('action', 'outcome', 'count', 'request_ids');
      expect(rows).toEqual([{ action: 'asset.read', outcome: '404', count: 3, request_ids: expect.arrayContaining(requestIds) }]);
    } finally {
      if (!lock.isCompleted()) await lock.rollback();
      await api.kill();
    }
  });
});

describe('retention', () => {
  it('a sweep removes rows older than STORAGE_AUDIT_RETENTION_DAYS (a dry run removes none)', async () => {
    const ago = (days: number) => new Date(Date.now() - days * 86_400_000);
    const old = { action: 'asset.update', outcome: '200', actor: 'retention-test', actor_roles: [] };
    await ctx.db('audit_log').insert([
      { ...old, at: ago(400), request_id: 'older than a year' },
      { ...old, at: ago(300), request_id: 'within the year' },
    ]);
    const kept = async () => (await audit({ actor: 'retention-test' })).map((r) => r.request_id);
    expect(await kept()).toEqual(['within the year', 'older than a year']);

    const sweep = async (json: object) => {
      const run = await call(url('/lifecycle/runs'), { method: 'POST', json, as: as.admin });
      expect(run.status).toBe(202);
      return awaitJob(ctx, `/api/v2/lifecycle/runs/${run.body.id}`);
    };
    expect(await sweep({ dry_run: true })).toMatchObject({ status: 'completed' });
    expect(await kept()).toEqual(['within the year', 'older than a year']);
    expect(await sweep({ dry_run: false })).toMatchObject({ status: 'completed' });
    expect(await kept()).toEqual(['within the year']);
  });

  it('no row is ever changed but a folded row’s count and request ids, which only grow', async () => {
    const [{ id }] = await ctx.db('audit_log').insert({ action: 'asset.update', outcome: '200', actor: 'append-only' }).returning('id');
    await expect(ctx.db('audit_log').where({ id }).update({ outcome: '204' })).rejects.toThrow(/append-only/);
    await expect(ctx.db('audit_log').where({ id }).increment('count', 1)).rejects.toThrow(/append-only/);
    await expect(
      ctx
        .db('audit_log')
        .where({ id })
        .update({ request_ids: ['forged'] }),
    ).rejects.toThrow(/append-only/);

    const [folded] = await ctx
      .db('audit_log')
      .insert({
        action: 'asset.read',
        outcome: '404',
        actor: 'append-only',
        fold_key: `append-only|${id}`,
        request_id: 'r1',
        request_ids: ['r1', 'r2'],
        count: 2,
      })
      .returning('id');
    await ctx
      .db('audit_log')
      .where(folded)
      .update({ count: 3, request_ids: ['r1', 'r2', 'r3'] });
    await expect(ctx.db('audit_log').where(folded).update({ count: 1 })).rejects.toThrow(/append-only/);
    await expect(
      ctx
        .db('audit_log')
        .where(folded)
        .update({ request_ids: ['r2', 'r3'] }),
    ).rejects.toThrow(/append-only/);
    await expect(ctx.db('audit_log').where(folded).update({ request_ids: null })).rejects.toThrow(/append-only/);
    expect(await ctx.db('audit_log').where(folded).first('outcome', 'count', 'request_ids')).toEqual({
      outcome: '404',
      count: 3,
      request_ids: ['r1', 'r2', 'r3'],
    });
  });

  it('refuses DELETE and TRUNCATE to every role, the owner’s included: only retention’s function removes rows, and only those past retention', async () => {
    const ago = (days: number) => new Date(Date.now() - days * 86_400_000);
    const row = { action: 'asset.update', outcome: '200', actor: 'erasure-test', actor_roles: [] };
    await ctx.db('audit_log').insert([
      { ...row, at: ago(400), request_id: 'past retention' },
      { ...row, at: ago(1), request_id: 'recent' },
    ]);
    const kept = async () => (await audit({ actor: 'erasure-test' })).map((r) => r.request_id);
    expect(await kept()).toEqual(['recent', 'past retention']);

    await expect(ctx.db('audit_log').where({ actor: 'erasure-test' }).delete()).rejects.toThrow(/only by retention/);
    await expect(ctx.db.raw('DELETE FROM audit_log')).rejects.toThrow(/only by retention/);
    await expect(ctx.db.raw('TRUNCATE audit_log')).rejects.toThrow(/only by retention/);
    expect(await kept()).toEqual(['recent', 'past retention']);

    // The retention is the database's (npm run setup writes it): no caller chooses it.
    const { rows } = await ctx.db.raw('SELECT storage_prune_audit_log(10000) AS removed');
    expect(rows[0].removed).toBeGreaterThanOrEqual(1);
    expect(await kept()).toEqual(['recent']);
  });
});

describe('GET /api/v2/audit', () => {
  it('is for admins only', async () => {
    expectProblem(await call(url('/audit'), { as: null }), 401);
    expectProblem(await call(url('/audit'), { as: as.alice }), 403);
    expectProblem(await call(url('/audit'), { as: as.service }), 403);
    expect((await call(url('/audit'), { as: as.admin })).status).toBe(200);
  });

  it('filters by actor, action, subject, outcome and time, and pages with its cursor', async () => {
    const asset = await newAsset(as.frank, 'filtered.png');
    await auditUntil('frank’s upload and its commit', { actor: 'frank', subject: asset.id }, (rows) => rows.length === 2);
    const between = new Date().toISOString();
    await waitUntil('a later millisecond', async () => new Date().toISOString() > between);
    expect((await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { tags: ['x'] }, as: as.frank })).status).toBe(200);
    expect((await call(url(`/assets/${asset.id}`), { method: 'PUT', json: { tags: ['y'] }, as: as.gina })).status).toBe(404);
    await auditUntil('gina’s refusal', { actor: 'gina', outcome: '404', subject: asset.id }, (rows) => rows.length === 1);

    const franks = await audit({ actor: 'frank' });
    expect(franks.every((r) => r.actor.sub === 'frank')).toBe(true);
    expect(franks.map((r) => r.action)).toEqual(expect.arrayContaining(['asset.update', 'upload.commit', 'asset.upload']));
    expect((await audit({ actor: 'frank', action: 'asset.update', subject: asset.id })).map((r) => r.outcome)).toEqual(['200']);
    expect((await audit({ subject: asset.id })).map((r) => `${r.actor.sub} ${r.action} ${r.outcome}`)).toEqual(
      expect.arrayContaining(['frank asset.update 200', 'gina asset.update 404', 'frank upload.commit completed']),
    );
    expect((await audit({ outcome: '404', actor: 'gina', action: 'asset.update' })).map((r) => r.subjects)).toEqual([{ asset_id: asset.id }]);
    expect((await audit({ subject: asset.id, since: between })).map((r) => r.outcome).sort()).toEqual(['200', '404']);
    expect((await audit({ subject: asset.id, until: between })).map((r) => r.action).sort()).toEqual(['asset.upload', 'upload.commit']);

    // Newest first, and page by page the same rows, each once.
    const all = await audit();
    const times = all.map((r) => r.at);
    expect([...times].sort().reverse()).toEqual(times);
    const paged = await audit({}, 2);
    expect(paged.map((r) => r.id)).toEqual(all.map((r) => r.id));
    expect(new Set(paged.map((r) => r.id)).size).toBe(paged.length);
  });

  it.each([
    ['a subject that is not a UUID', 'subject=map.png'],
    ['an outcome that is neither a status nor a result', 'outcome=ok%21'],
    ['an action of another form', 'action=Asset%20Delete'],
    ['a time that is not ISO 8601', 'since=yesterday'],
    ['a cursor this list did not hand out', 'cursor=eyJub3BlIjoxfQ'],
    ['a limit of 0', 'limit=0'],
    ['an unknown filter', 'who=alice'],
  ])('answers 400 problem+json for %s', async (_what, query) => {
    expectProblem(await call(url(`/audit?${query}`), { as: as.admin }), 400);
  });
});

describe('STORAGE_AUDIT_LOG=off', () => {
  it('writes no row, for the bench to measure without it', async () => {
    const quiet = await startTestService({ STORAGE_AUDIT_LOG: 'off' }, { worker: false });
    try {
      const res = await call(`${quiet.baseUrl}/api/v2/policies`, {
        method: 'POST',
        json: { name: 'unaudited', rules: [{ action: 'purge_deleted', days: 1 }] },
      });
      expect(res.status).toBe(201);
      expect(await quiet.db('audit_log').count({ n: '*' })).toEqual([{ n: 0 }]);
    } finally {
      await quiet.stop();
    }
  });
});
