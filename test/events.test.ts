/**
 * Events: the feed, the relay to the Message Hub (a local HTTP receiver stands in for it), and the
 * events other services send (ingest from a local file server on the allow-list).
 */
import { uuidv7 } from '../lib/platform/ids';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordEvent } from '../lib/events/outbox';
import { ensureOutboxRelay, listenForOutboxCommits } from '../lib/events/relayRuns';
import { outboxRelayWorkflowId } from '../workflows/events/definitions';
import type { UploadState } from '../workflows/uploads/definitions';
import { bytesOf, download, sha256, uploadAsset } from './support/assets';
import { objectKeys } from './support/catalog';
import { useTestService, startTestService, type TestContext } from './support/context';
import { tokenFor } from './support/auth';
import { call } from './support/http';
import { startHub } from './support/hub';
import { waitUntil } from './support/processes';

/**
 * The feed holds back events while any older transaction in the PostgreSQL cluster is still running
 * (other test files share the server), so a test waits until the count it expects has arrived.
 */
async function feedOf(ctx: TestContext, count: number, after?: string) {
  return waitUntil(`${count} events in the feed`, async () => {
    const page = await feed(ctx, after);
    return page.items.length >= count ? page : undefined;
  });
}

async function feed(ctx: TestContext, after?: string) {
  const res = await call(`${ctx.baseUrl}/api/v2/events?limit=1000${after ? `&after=${after}` : ''}`);
  expect(res.status).toBe(200);
  return res.body as { items: Array<{ id: string; type: string; subject: string; sequence: number; specversion: string }>; next_cursor: string | null };
}

describe('the event feed', () => {
  const ctx = useTestService();

  it('serves each change as a CloudEvent, oldest first, and a cursor goes on from where it stopped', async () => {
    const first = await uploadAsset(ctx.baseUrl, bytesOf(10), { name: 'a.bin' });
    const page = await feedOf(ctx, 2);
    expect(page.items.map((e) => [e.type, e.subject])).toEqual([
      ['storage.asset.created', first.body.id],
      ['storage.version.created', first.body.id],
    ]);
    expect(page.items[0]).toMatchObject({ specversion: '1.0', source: 'storage-service', datacontenttype: 'application/json' });
    await call(`${ctx.baseUrl}/api/v2/assets/${first.body.id}`, { method: 'PUT', json: { tags: ['x'] } });
    const next = await feedOf(ctx, 1, page.next_cursor!);
    expect(next.items.map((e) => e.type)).toEqual(['storage.asset.updated']);
    const nothingNew = await feed(ctx, next.next_cursor!);
    expect(nothingNew).toEqual({ items: [], next_cursor: next.next_cursor });
  });

  it('never skips an event whose transaction commits after a later one', async () => {
    const start = (await feedOf(ctx, 3)).next_cursor!;
    const slow = await ctx.db.transaction();
    try {
      await recordEvent(slow, 'storage.asset.updated', 'slow-subject', { n: 1 });
      await ctx.db.transaction((fast) => recordEvent(fast, 'storage.asset.updated', 'fast-subject', { n: 2 }));
      // The fast event is committed, but serving it now would move the cursor past the slow one.
      const meanwhile = await feed(ctx, start);
      expect(meanwhile.items.map((e) => e.subject)).toEqual([]);
      await slow.commit();
    } catch (err) {
      await slow.rollback();
      throw err;
    }
    const after = await feedOf(ctx, 2, start);
    expect(after.items.map((e) => e.subject)).toEqual(['slow-subject', 'fast-subject']);
  });

  it('subject and created_after narrow the feed; last answers its newest events, oldest first, and the position at its end', async () => {
    const subject = uuidv7();
    for (const n of [1, 2, 3]) await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', subject, { n }));
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', uuidv7(), { n: 4 }));
    // The first is an hour old: created_after half an hour ago leaves it out.
    await ctx
      .db('outbox_events')
      .where({ subject })
      .whereRaw("data->>'n' = '1'")
      .update({ time: ctx.db.raw("time - interval '1 hour'") });
    const get = async (query: string) => {
      const res = await call(`${ctx.baseUrl}/api/v2/events?${query}`);
      expect(res.status).toBe(200);
      return res.body as { items: Array<{ subject: string; data: { n: number } }>; next_cursor: string | null };
    };
    const all = await waitUntil('the 3 events settled', async () => {
      const page = await get(`subject=${subject}`);
      return page.items.length === 3 && page;
    });
    expect(all.items.map((e) => [e.subject, e.data.n])).toEqual([1, 2, 3].map((n) => [subject, n]));
    const newest = await get(`subject=${subject}&last=2`);
    expect(newest.items.map((e) => e.data.n)).toEqual([2, 3]);
    expect(newest.next_cursor).toBe(all.next_cursor);
    expect((await get(`subject=${subject}&last=2&cursor=${newest.next_cursor}`)).items).toEqual([]);
    const recent = await get(`subject=${subject}&created_after=${encodeURIComponent(new Date(Date.now() - 1_800_000).toISOString())}`);
    expect(recent.items.map((e) => e.data.n)).toEqual([2, 3]);
    // The whole feed's end: its newest event is the other subject's.
    const end = await waitUntil('the 4th event settled', async () => {
      const page = await get('last=1');
      return page.items[0]?.data.n === 4 && page;
    });
    expect((await get(`cursor=${end.next_cursor}`)).items).toEqual([]);
    for (const bad of ['last=0', 'last=1001', 'created_after=yesterday', 'subject=']) {
      expect({ bad, status: (await call(`${ctx.baseUrl}/api/v2/events?${bad}`)).status }).toEqual({ bad, status: 400 });
    }
  });

  it('the deprecated after= narrows by subject, created_after and last as cursor= does; extreme values are 400 problem+json, never 500', async () => {
    // The feed's end before the events: both the old and the new name read on from it.
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', uuidv7(), { n: 0 }));
    const end = await waitUntil('an end to read on from', async () => {
      const page = (await call(`${ctx.baseUrl}/api/v2/events?last=1`)).body as { next_cursor: string | null };
      return page.next_cursor !== null && { next_cursor: page.next_cursor };
    });
    const subject = uuidv7();
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', subject, { n: 1 }));
    await ctx.db.transaction((trx) => recordEvent(trx, 'storage.asset.updated', uuidv7(), { n: 2 }));
    await waitUntil('both settled', async () => (await feed(ctx, end.next_cursor)).items.length >= 2);
    for (const name of ['cursor', 'after']) {
      const res = await call(`${ctx.baseUrl}/api/v2/events?${name}=${end.next_cursor}&subject=${subject}`);
      expect({ name, status: res.status, subjects: (res.body as { items: Array<{ subject: string }> }).items.map((e) => e.subject) }).toEqual({
        name,
        status: 200,
        subjects: [subject],
      });
    }
    for (const bad of [
      'last=-1',
      'last=1e9',
      'last=1.5',
      'subject=%27%20OR%201%3D1--&last=abc',
      'created_after=0000-01-01T00:00:00%2B14:00',
      'created_after=9999-12-31T23:59:59-23:59',
      'created_after=2026-02-30T00:00:00Z',
      'subject=a%00b',
    ]) {
      const res = await call(`${ctx.baseUrl}/api/v2/events?${bad}`);
      expect({ bad, status: res.status < 500, type: res.headers.get('content-type') }).toEqual({
        bad,
        status: true,
        type: res.status === 200 ? expect.stringContaining('application/json') : expect.stringContaining('application/problem+json'),
      });
    }
  });

  it('400 for a cursor it did not hand out and for a limit under 1; a limit over 1000 is lowered to it', async () => {
    expect((await call(`${ctx.baseUrl}/api/v2/events?after=bogus`)).status).toBe(400);
    expect((await call(`${ctx.baseUrl}/api/v2/events?cursor=bogus`)).status).toBe(400);
    expect((await call(`${ctx.baseUrl}/api/v2/events?limit=0`)).status).toBe(400);
    const lowered = await call(`${ctx.baseUrl}/api/v2/events?limit=1001`);
    expect({ status: lowered.status, applied: lowered.headers.get('limit-applied') }).toEqual({ status: 200, applied: '1000' });
  });
});

describe('the relay to the Message Hub', () => {
  it('delivers every event at least once, in order per subject, through refusals and an outage', async () => {
    const hub = await startHub(3);
    const ctx = await startTestService({ STORAGE_MESSAGE_HUB_URL: hub.url, STORAGE_OUTBOX_RETRY_MAX_SECONDS: '1' });
    const relayId = outboxRelayWorkflowId(ctx.config.temporal.taskQueue);
    const stopListening = await listenForOutboxCommits(ctx.config.database.url, ctx.temporal.client, ctx.config.temporal.taskQueue, ctx.logger);
    try {
      await ensureOutboxRelay(ctx.temporal.client, ctx.config.temporal.taskQueue);
      const assets: string[] = [];
      for (let i = 0; i < 3; i++) assets.push((await uploadAsset(ctx.baseUrl, bytesOf(10), { name: `asset-${i}` })).body.id);
      await waitUntil('the first deliveries', async () => hub.received.length > 0, 30_000);

      await hub.stop(); // the hub goes down for a while
      for (const id of assets) await call(`${ctx.baseUrl}/api/v2/assets/${id}`, { method: 'PUT', json: { name: `renamed ${id}` } });
      await call(`${ctx.baseUrl}/api/v2/assets/${assets[0]}`, { method: 'DELETE' });
      // Only the closed port answers nothing: an event that met it is one the relay tried during the outage.
      await waitUntil('a delivery attempt that failed during the outage', () =>
        ctx.db('outbox_events').whereNull('delivered_at').where('last_error', 'like', 'the hub did not answer%').first(),
      );
      await hub.start();

      const expected = await ctx.db('outbox_events').orderBy('sequence').select('id', 'subject');
      await waitUntil('every event delivered', async () => (await ctx.db('outbox_events').whereNull('delivered_at').count({ n: '*' }))[0].n === 0, 45_000);
      expect(hub.refused()).toBe(3);
      const ids = new Set(hub.received.map((e) => e.id));
      expect([...ids].sort()).toEqual(expected.map((e) => e.id).sort());
      for (const subject of assets) {
        const sent = expected.filter((e) => e.subject === subject).map((e) => e.id);
        const firstArrivals = [...new Set(hub.received.filter((e) => e.subject === subject).map((e) => e.id))];
        expect(firstArrivals).toEqual(sent);
      }
      // A re-delivered event is the same event: same id, same content.
      for (const event of hub.received) expect(hub.received.find((e) => e.id === event.id)!.body).toEqual(event.body);
      expect(hub.received.every((e) => e.contentType?.startsWith('application/cloudevents+json'))).toBe(true);
      const failedAttempts = await ctx.db('outbox_events').where('attempts', '>', 1);
      expect(failedAttempts.length).toBeGreaterThan(0);
    } finally {
      await stopListening();
      await ctx.temporal.client.workflow
        .getHandle(relayId)
        .terminate('test over')
        .catch(() => {});
      await ctx.stop();
      await hub.stop().catch(() => {});
    }
  }, 90_000);
});

describe('incoming events', () => {
  let files: http.Server;
  let filesUrl: string;
  const content = bytesOf(200_000);
  let ctx: TestContext;

  beforeAll(async () => {
    files = http.createServer((req, res) => {
      if (req.url === '/dragon.png') res.writeHead(200, { 'content-type': 'image/png' }).end(content);
      else if (req.url === '/elsewhere') res.writeHead(302, { location: 'http://localhost:1/dragon.png' }).end();
      else if (req.url === '/hop') res.writeHead(302, { location: '/dragon.png' }).end();
      else if (req.url === '/huge') res.writeHead(200).end(bytesOf(300_000));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    ctx = await startTestService({ STORAGE_INGEST_ALLOWED_HOSTS: new URL(filesUrl).host, STORAGE_MAX_UPLOAD_SIZE: '250000' });
  });
  afterAll(async () => {
    await ctx?.stop();
    files?.close();
  });

  // Event ids name the workflows they start, so each test's are fresh: a rerun on a kept Temporal server starts its own.
  const event = (id: string, type: string, data: unknown) => ({ specversion: '1.0', id, source: 'character-service', type, data });
  const post = (body: unknown) =>
    call(`${ctx.baseUrl}/api/v2/events`, { method: 'POST', json: body, headers: { 'content-type': 'application/cloudevents+json' } });
  const outcome = async (workflowId: string) => (await ctx.temporal.client.workflow.getHandle(workflowId).result()) as UploadState;

  it('service.asset.requested stores the fetched file as a new asset; the same event twice is one upload', async () => {
    const body = event(`evt-ingest-1-${uuidv7()}`, 'service.asset.requested', {
      source_url: `${filesUrl}/hop`,
      name: 'dragon.png',
      content_type: 'image/png',
      checksum_sha256: sha256(content),
    });
    const first = await post(body);
    const again = await post(body);
    expect(first.status).toBe(202);
    expect(again.body.workflow_id).toBe(first.body.workflow_id);
    const state = await outcome(first.body.workflow_id);
    expect(state.status).toBe('completed');
    const got = await download(`${ctx.baseUrl}/api/v2/assets/${state.result!.assetId}/content`);
    expect(sha256(got.body)).toBe(sha256(content));
    expect(await ctx.db('assets').where({ name: 'dragon.png' })).toHaveLength(1);
  });

  it('service.asset.requested makes the asset for data.owner_id, or else for the service that posted it', async () => {
    const service = await tokenFor({ sub: 'character-service', roles: ['storage:service'] });
    const owners: Array<string | undefined> = ['erin', undefined];
    for (const owner_id of owners) {
      const body = event(`evt-owner-${uuidv7()}`, 'service.asset.requested', { source_url: `${filesUrl}/dragon.png`, name: 'owned.png', owner_id });
      const res = await call(`${ctx.baseUrl}/api/v2/events`, {
        method: 'POST',
        json: body,
        headers: { 'content-type': 'application/cloudevents+json' },
        as: service,
      });
      expect(res.status).toBe(202);
      const state = await outcome(res.body.workflow_id);
      expect(state.status).toBe('completed');
      const asset = await call(`${ctx.baseUrl}/api/v2/assets/${state.result!.assetId}`);
      expect(asset.body.owner_id).toBe(owner_id ?? 'character-service');
    }
  });

  it.each([
    ['a host not on the allow-list', 'http://localhost:1/dragon.png'],
    ['a scheme other than http(s)', 'file:///etc/passwd'],
  ])('400 for a source on %s, and nothing started', async (_what, url) => {
    const res = await post(event(`evt-${Math.random()}`, 'service.asset.requested', { source_url: url, name: 'x' }));
    expect(res.status).toBe(400);
    expect(res.body.errors[0].path).toBe('data.source_url');
    expect(await ctx.db('upload_sessions').where({ name: 'x' })).toEqual([]);
  });

  it.each([
    ['redirects to a host not on the allow-list', '/elsewhere', /redirected/],
    ['is over the size limit', '/huge', /limit/],
    // https to the plain-HTTP server: fails the same way on every try, so it is not retried.
    ['fails in TLS', 'https', /TLS \(ERR_SSL_WRONG_VERSION_NUMBER\)/],
  ])('a source that %s fails its upload, leaving no asset and no object', async (_what, path, reason) => {
    const sourceUrl = path === 'https' ? `${filesUrl.replace('http:', 'https:')}/dragon.png` : `${filesUrl}${path}`;
    const res = await post(event(`evt-${path}-${uuidv7()}`, 'service.asset.requested', { source_url: sourceUrl, name: `refused ${path}` }));
    expect(res.status).toBe(202);
    const state = await outcome(res.body.workflow_id);
    expect(state.status).toBe('failed');
    expect(state.error).toMatch(reason);
    expect(await ctx.db('assets').where({ name: `refused ${path}` })).toEqual([]);
    const session = await ctx.db('upload_sessions').where({ workflow_id: res.body.workflow_id }).first();
    expect(await objectKeys(ctx, `assets/${session.result_asset_id}/`)).toEqual([]);
  });

  it('an event delivered again after its upload ended is not run again, even when that upload failed', async () => {
    const id = `evt-again-${uuidv7()}`;
    const failing = await post(event(id, 'service.asset.requested', { source_url: `${filesUrl.replace('http:', 'https:')}/dragon.png`, name: 'once' }));
    expect((await outcome(failing.body.workflow_id)).status).toBe('failed');
    const again = await post(event(id, 'service.asset.requested', { source_url: `${filesUrl}/dragon.png`, name: 'once' }));
    expect(again).toMatchObject({ status: 202, body: { workflow_id: failing.body.workflow_id } });
    expect((await outcome(again.body.workflow_id)).status).toBe('failed');
    expect(await ctx.db('assets').where({ name: 'once' })).toEqual([]);
  });

  it('service.backup.requested starts one backup per event id', async () => {
    await uploadAsset(ctx.baseUrl, bytesOf(1000), { name: 'to back up' });
    const body = event(`evt-backup-1-${uuidv7()}`, 'service.backup.requested', { label: 'requested by the campaign service' });
    const first = await post(body);
    const again = await post(body);
    expect(first.status).toBe(202);
    expect(again.body.workflow_id).toBe(first.body.workflow_id);
    await ctx.temporal.client.workflow.getHandle(first.body.workflow_id).result();
    const backups = await ctx.db('backup_jobs').where({ kind: 'backup' });
    expect(backups).toHaveLength(1);
    expect(backups[0]).toMatchObject({ label: 'requested by the campaign service', status: 'completed' });
    expect((await post(event('evt-backup-2', 'service.backup.requested', { asset_ids: ['not-a-uuid'] }))).status).toBe(400);
  });

  it('service.policy.updated runs a sweep of that policy, once per event id', async () => {
    const policy = await call(`${ctx.baseUrl}/api/v2/policies`, {
      method: 'POST',
      json: { name: 'tidy maps', rules: [{ action: 'expire_assets', days: 30 }] },
    });
    expect(policy.status).toBe(201);
    const body = event(`evt-policy-1-${uuidv7()}`, 'service.policy.updated', { policy_id: policy.body.id });
    const first = await post(body);
    const again = await post(body);
    expect(first.status).toBe(202);
    expect(again.body.workflow_id).toBe(first.body.workflow_id);
    await ctx.temporal.client.workflow.getHandle(first.body.workflow_id).result();
    const runs = await ctx.db('lifecycle_runs').where({ policy_id: policy.body.id });
    expect(runs).toHaveLength(1);
    expect(runs[0].status).toBe('completed');
    expect((await post(event('evt-policy-2', 'service.policy.updated', { policy_id: '01900000-0000-7000-8000-00000000dead' }))).status).toBe(404);
  });

  it("takes exactly the source URLs the document's pattern states (the allow-list), and refuses the rest with 400", async () => {
    const doc = await call(`${ctx.baseUrl}/openapi.json`);
    type Rule = { allOf?: { pattern: string }[] };
    const branches = doc.body.paths['/api/v2/events'].post.requestBody.content['application/cloudevents+json'].schema.oneOf as {
      properties: { type: { const: string }; data: { properties: Record<string, Rule> } };
    }[];
    const sourceUrl = branches.find((b) => b.properties.type.const === 'service.asset.requested')!.properties.data.properties.source_url;
    const patterns = sourceUrl.allOf!.map((rule) => new RegExp(rule.pattern));
    const documented = (url: string) => patterns.every((pattern) => pattern.test(url));
    const { host } = new URL(filesUrl);
    const urls = [
      `${filesUrl}/dragon.png`,
      `http://user:secret@${host}/dragon.png`,
      `ftp://${host}/dragon.png`,
      'http://localhost:1/dragon.png',
      `${filesUrl}/a b`,
      `${filesUrl}\\x`,
    ];
    const answers = [];
    for (const [i, url] of urls.entries()) {
      const answer = await post(event(`evt-url-${i}-${uuidv7()}`, 'service.asset.requested', { source_url: url, name: 'map.png' }));
      answers.push({ url, status: answer.status });
    }
    expect(answers).toEqual(urls.map((url) => ({ url, status: documented(url) ? 202 : 400 })));
    expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
  });

  it('400 for an unknown type, invalid data or a body that is not a CloudEvent', async () => {
    expect((await post(event('evt-x', 'service.unknown.happened', {}))).status).toBe(400);
    expect((await post(event('evt-y', 'service.asset.requested', { name: 'no url' }))).status).toBe(400);
    expect((await post({ hello: 'world' })).status).toBe(400);
  });
});
