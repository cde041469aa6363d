/**
 * service.asset.requested as an attacker would use it (issue 23): a source reaches no loopback,
 * private, link-local or metadata address unless the allow-list names its host with its port, and
 * every way a source can fail ends its run `failed` within a fixed number of attempts, saying why,
 * with no asset and no object left. A local file server on the allow-list plays the sources, and a
 * second local server plays an internal one (the SeaweedFS master): it must never be reached.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePorts } from '../scripts/stack';
import { uuidv7 } from '../lib/platform/ids';
import { loadConfig } from '../lib/platform/config';
import { refusedAddressOf, type ResolvedAddress } from '../lib/uploads/sourceAddresses';
import { openSource, SourceRefusedError } from '../lib/uploads/sourceFetch';
import type { UploadState } from '../workflows/uploads/definitions';
import { bytesOf } from './support/assets';
import { objectKeys } from './support/catalog';
import { useTestService } from './support/context';
import { call, type JsonAnswer } from './support/http';
import { assetRequested, postEvent } from './support/events';

/**
 * IPv6 addresses that reach a refused IPv4 one, each listed without its port (so allowed on 80 and
 * 443 but for what it reaches), as the URL parser writes them, with the kind it must be refused as.
 */
const IPV6_FORMS: Array<[what: string, host: string, kind: RegExp]> = [
  ['NAT64 (64:ff9b::/96) to loopback', '[64:ff9b::7f00:1]', /loopback address \(it reaches 127\.0\.0\.1\)/],
  ['NAT64 (64:ff9b::/96) to a private address', '[64:ff9b::a00:1]', /private address \(it reaches 10\.0\.0\.1\)/],
  ['NAT64 local-use (64:ff9b:1::/48)', '[64:ff9b:1::a9fe:a9fe]', /local-use NAT64 address/],
  ['IPv4-mapped (::ffff:0:0/96) to the metadata address', '[::ffff:a9fe:a9fe]', /link-local address/],
  ['IPv4-translated (::ffff:0:0:0/96) to loopback', '[::ffff:0:7f00:1]', /loopback address \(it reaches 127\.0\.0\.1\)/],
  ['IPv4-compatible (::/96) to a private address', '[::c0a8:101]', /private address \(it reaches 192\.168\.1\.1\)/],
  ['6to4 (2002::/16) to the metadata address', '[2002:a9fe:a9fe::1]', /link-local address \(it reaches 169\.254\.169\.254\)/],
  ['6to4 (2002::/16) to a carrier-grade NAT address', '[2002:6440:1::]', /carrier-grade NAT\) address \(it reaches 100\.64\.0\.1\)/],
  ['Teredo (2001::/32) to loopback', '[2001:0:4136:e378:8000:63bf:80ff:fffe]', /loopback address \(it reaches 127\.0\.0\.1\)/],
  ['6to4 (2002::/16) to a multicast address', '[2002:e000:1::]', /multicast address \(it reaches 224\.0\.0\.1\)/],
  ['NAT64 to the unspecified address', '[64:ff9b::]', /unspecified address \(it reaches 0\.0\.0\.0\)/],
  ['IPv6 multicast', '[ff02::1]', /multicast address/],
];

/** What a source URL may carry that must not be repeated anywhere but to the source. */
const SECRETS = { user: 'svc-user', password: 'pw-hunter2', token: 'tok-5ecret', fragment: 'frag-5ecret' };

/** activities/uploads/ingest.ts: INGEST_ATTEMPTS. */
const ATTEMPTS = 5;
const LIMIT = 250_000;

let files: http.Server;
let filesUrl: string;
let internal: http.Server;
let internalPort: number;
let closedPort: number;
/** Requests each path of the file server received. */
const hits = new Map<string, number>();
let internalHits = 0;

beforeAll(async () => {
  internal = http.createServer((_req, res) => {
    internalHits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"Topology":"the cluster\'s internals"}');
  });
  await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
  internalPort = (internal.address() as AddressInfo).port;

  files = http.createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    if (req.url === '/dragon.png') res.writeHead(200).end(bytesOf(1000));
    else if (req.url === '/unavailable') res.writeHead(503).end('down for maintenance');
    else if (req.url === '/silent')
      return; // takes the request, never answers
    else if (req.url === '/undeclared-huge') {
      // No Content-Length: the size is found out while streaming.
      res.writeHead(200).write(bytesOf(LIMIT));
      res.end(bytesOf(1000));
    } else if (req.url === '/to-internal') res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/dir/status` }).end();
    else if (req.url!.startsWith('/broken?')) res.writeHead(500).end('it broke');
    else if (req.url!.startsWith('/to-credentials?'))
      res
        .writeHead(302, {
          location: `http://${SECRETS.user}:${SECRETS.password}@127.0.0.1:${internalPort}/dir/status?token=${SECRETS.token}#${SECRETS.fragment}`,
        })
        .end();
    else if (req.url === '/to-nowhere') res.writeHead(302, { location: `http://[::1/?token=${SECRETS.token}` }).end();
    else if (req.url === '/huge-headers') res.writeHead(200, { 'x-padding': 'a'.repeat(64 * 1024) }).end(bytesOf(10));
    else if (req.url === '/not-http') req.socket.end('SSH-2.0-OpenSSH_9.6\r\n');
    else if (req.url === '/stalls')
      res.writeHead(200, { 'content-length': '2000' }).write(bytesOf(1000)); // and never the rest
    else if (req.url === '/to-nat64-loopback') res.writeHead(302, { location: `http://${IPV6_FORMS[0][1]}/dir/status` }).end();
    else if (req.url === '/to-localhost') res.writeHead(302, { location: 'http://localhost/latest/meta-data/' }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  [closedPort] = await freePorts(1);
});
// Read once the servers above listen.
const ctx = useTestService(() => ({
  // 127.0.0.1, localhost and the metadata address alone: each names ports 80 and 443, which a loopback or link-local address is not fetched on.
  STORAGE_INGEST_ALLOWED_HOSTS: [
    new URL(filesUrl).host,
    `127.0.0.1:${closedPort}`,
    '127.0.0.1',
    'localhost',
    '169.254.169.254',
    ...IPV6_FORMS.map(([, host]) => host),
  ].join(','),
  STORAGE_INGEST_TIMEOUT_SECONDS: '1',
  STORAGE_MAX_UPLOAD_SIZE: String(LIMIT),
  STORAGE_AUDIT_LOG: 'on',
}));
afterAll(async () => {
  for (const server of [files, internal]) {
    server?.closeAllConnections();
    server?.close();
  }
});

const event = (sourceUrl: string, name: string) => assetRequested({ source_url: sourceUrl, name });
const post = (body: unknown) => postEvent(ctx.baseUrl, body);
const outcome = async (workflowId: string) => (await ctx.temporal.client.workflow.getHandle(workflowId).result()) as UploadState;

/** What the service that sent the event sees of its upload: the session's status and error. */
async function sessionOf(workflowId: string): Promise<JsonAnswer> {
  return call(`${ctx.baseUrl}/api/v2/uploads/${workflowId.replace(/^upload-/, '')}`);
}

/** The attempt the fetch step ended on, as the run's history records it. */
async function fetchAttempts(workflowId: string): Promise<number> {
  const { events } = await ctx.temporal.client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'fetchSource')!;
  const started = events!.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(scheduled.eventId));
  return started!.activityTaskStartedEventAttributes!.attempt!;
}

async function expectNothingStored(workflowId: string, name: string) {
  expect(await ctx.db('assets').where({ name })).toEqual([]);
  const session = await ctx.db('upload_sessions').where({ workflow_id: workflowId }).first();
  expect(await ctx.db('asset_versions').where({ asset_id: session.result_asset_id })).toEqual([]);
  expect(await objectKeys(ctx, `assets/${session.result_asset_id}/`)).toEqual([]);
}

describe('a source reaches no internal address the allow-list does not name with its port', () => {
  it.each([
    ["the SeaweedFS master's port, though 127.0.0.1 is listed alone", () => 'http://127.0.0.1:9333/dir/status', /not in STORAGE_INGEST_ALLOWED_HOSTS/],
    [
      'a loopback port not listed, though 127.0.0.1 is listed alone',
      () => `http://127.0.0.1:${internalPort}/dir/status`,
      /not in STORAGE_INGEST_ALLOWED_HOSTS/,
    ],
    ['127.0.0.1 on port 80, listed without its port', () => 'http://127.0.0.1/dir/status', /loopback address/],
    ['the metadata address, listed without its port', () => 'http://169.254.169.254/latest/meta-data/', /link-local address/],
    ['an IPv4-mapped IPv6 loopback address', () => `http://[::ffff:127.0.0.1]:${internalPort}/dir/status`, /not in STORAGE_INGEST_ALLOWED_HOSTS/],
  ])('%s: 400 at data.source_url, and nothing starts', async (_what, url, reason) => {
    const res = await post(event(url(), 'internal.json'));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'data.source_url', message: expect.stringMatching(reason) }]);
    expect(await ctx.db('upload_sessions').where({ name: 'internal.json' })).toEqual([]);
    expect(internalHits).toBe(0);
  });

  it.each(IPV6_FORMS)('%s, listed without its port: 400 at data.source_url, saying what it reaches', async (_what, host, reason) => {
    const res = await post(event(`http://${host}/latest/meta-data/`, 'embedded.json'));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'data.source_url', message: expect.stringMatching(reason) }]);
    expect(await ctx.db('upload_sessions').where({ name: 'embedded.json' })).toEqual([]);
  });

  it.each([
    ['hexadecimal', 'http://0x7f000001/', /127\.0\.0\.1 is a loopback address/],
    ['octal', 'http://017700000001/', /127\.0\.0\.1 is a loopback address/],
    ['a decimal integer', 'http://2130706433/', /127\.0\.0\.1 is a loopback address/],
    ['dotted parts in mixed bases', 'http://0xa9.0376.43518/', /169\.254\.169\.254 is a link-local address/],
    ['a short form', 'http://127.1/', /127\.0\.0\.1 is a loopback address/],
  ])('an IPv4 address written in %s is read as the address it is: 400', async (_what, url, reason) => {
    const res = await post(event(url, 'numeric.json'));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'data.source_url', message: expect.stringMatching(reason) }]);
    expect(await ctx.db('upload_sessions').where({ name: 'numeric.json' })).toEqual([]);
  });

  it('IPv6 forms that reach a public IPv4 address, and plain public addresses, are not refused for it', () => {
    const refused = ['64:ff9b::808:808', '::ffff:808:808', '2002:808:808::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2606:4700::1111', '8.8.8.8'].map(
      refusedAddressOf,
    );
    expect(refused).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it('a listed name that resolves to a loopback address is refused after resolving it: the run ends failed saying so', async () => {
    const res = await post(event('http://localhost/latest/meta-data/', 'resolved.json'));
    expect(res.status).toBe(202);
    const state = await outcome(res.body.workflow_id);
    expect(state).toMatchObject({ status: 'failed', error: expect.stringMatching(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/) });
    await expectNothingStored(res.body.workflow_id, 'resolved.json');
  });

  it("the document's pattern takes the listed host:port and refuses what the allow-list's hosts alone may not fetch", async () => {
    const doc = await call(`${ctx.baseUrl}/openapi.json`);
    const branches = doc.body.paths['/api/v2/events'].post.requestBody.content['application/cloudevents+json'].schema.oneOf as {
      properties: { type: { const: string }; data: { properties: Record<string, { allOf: { pattern: string }[] }> } };
    }[];
    const sourceUrl = branches.find((b) => b.properties.type.const === 'service.asset.requested')!.properties.data.properties.source_url;
    const documented = (url: string) => sourceUrl.allOf.every((rule) => new RegExp(rule.pattern).test(url));
    const urls = [
      `${filesUrl}/dragon.png`,
      `http://127.0.0.1:${internalPort}/dir/status`,
      'http://127.0.0.1/dir/status',
      'http://169.254.169.254/latest/meta-data/',
      'http://localhost/a',
      'https://localhost:443/a',
      'http://localhost:8080/a',
    ];
    expect(urls.map(documented)).toEqual([true, false, false, false, true, true, false]);
    for (const url of urls.filter((u) => !documented(u))) expect((await post(event(url, 'pattern.json'))).status).toBe(400);
  });
});

it('an allow-list entry that is not host or host:port (a URL, a path) stops the service from starting, rather than allowing nothing', () => {
  for (const entry of ['http://files.internal', 'files.internal/maps', 'files.internal:80:80']) {
    expect(() => loadConfig({ STORAGE_INGEST_ALLOWED_HOSTS: `127.0.0.1:9000,${entry}` })).toThrow(/STORAGE_INGEST_ALLOWED_HOSTS.*host or host:port/);
  }
  expect(loadConfig({ STORAGE_INGEST_ALLOWED_HOSTS: 'Files.Internal, 127.0.0.1:9000,[::1]:8080' }).ingest.allowedHosts).toEqual([
    'files.internal',
    '127.0.0.1:9000',
    '[::1]:8080',
  ]);
});

it('an owner with no room for another asset is refused when the event arrives: 507 as the document states, and nothing starts', async () => {
  expect((await call(`${ctx.baseUrl}/api/v2/quotas/full-owner`, { method: 'PUT', json: { assets: 0 } })).status).toBe(200);
  const res = await post({
    ...event(`${filesUrl}/dragon.png`, 'no room.png'),
    data: { source_url: `${filesUrl}/dragon.png`, name: 'no room.png', owner_id: 'full-owner' },
  });
  expect(res.status).toBe(507);
  expect(res.body).toMatchObject({ quota: 'assets', owner_id: 'full-owner', limit: 0 });
  expect(await ctx.db('upload_sessions').where({ name: 'no room.png' })).toEqual([]);
});

describe('every failure of a source ends its run failed within the bound, saying why, leaving no asset and no object', () => {
  it.each([
    ['refuses connections', () => `http://127.0.0.1:${closedPort}/dragon.png`, /connection refused/, ATTEMPTS],
    ['answers 503', () => `${filesUrl}/unavailable`, /answered 503/, ATTEMPTS],
    ['takes the request and never answers', () => `${filesUrl}/silent`, /did not answer within 1 s/, ATTEMPTS],
    ['sends a body over the limit, without declaring its size', () => `${filesUrl}/undeclared-huge`, /limit of 250000 bytes/, 1],
    ['redirects to a loopback port the allow-list does not name', () => `${filesUrl}/to-internal`, /redirected to .*not in STORAGE_INGEST_ALLOWED_HOSTS/, 1],
    ['redirects to a listed name that resolves to loopback', () => `${filesUrl}/to-localhost`, /redirected to .*loopback address/, 1],
    [
      'redirects to a NAT64 address that reaches loopback',
      () => `${filesUrl}/to-nat64-loopback`,
      /redirected to .*loopback address \(it reaches 127\.0\.0\.1\)/,
      1,
    ],
    ['answers with headers over 16 KiB', () => `${filesUrl}/huge-headers`, /its answer could not be read \(HPE_HEADER_OVERFLOW\)/, 1],
    ['answers with something other than HTTP', () => `${filesUrl}/not-http`, /its answer could not be read \(HPE_/, 1],
    ['stops sending in the middle of its body', () => `${filesUrl}/stalls`, /sent nothing for 1 s/, ATTEMPTS],
  ])('a source that %s', async (_what, url, reason, attempts) => {
    const name = `failing ${uuidv7()}`;
    const res = await post(event(url(), name));
    expect(res.status).toBe(202);
    const state = await outcome(res.body.workflow_id);
    expect(state).toMatchObject({ status: 'failed', error: expect.stringMatching(reason) });
    if (attempts > 1) expect(state.error).toMatch(`gave up after ${attempts} attempts`);
    expect(await fetchAttempts(res.body.workflow_id)).toBe(attempts);
    const path = new URL(url()).pathname;
    if (url().startsWith(filesUrl)) expect(hits.get(path)).toBe(attempts);
    expect((await sessionOf(res.body.workflow_id)).body).toMatchObject({ status: 'failed', error: state.error });
    await expectNothingStored(res.body.workflow_id, name);
    expect(internalHits).toBe(0);
  });
});

/** Every table row of the catalog that holds `text` anywhere (status, errors, the audit log, the events' outbox). */
async function rowsHolding(text: string): Promise<string[]> {
  const tables = await ctx.db('information_schema.tables').where({ table_schema: 'public', table_type: 'BASE TABLE' }).pluck('table_name');
  const found: string[] = [];
  for (const table of tables) {
    const rows = await ctx.db.raw(`SELECT t::text AS row FROM ?? t WHERE t::text LIKE ?`, [table, `%${text}%`]);
    found.push(...rows.rows.map((r: { row: string }) => `${table}: ${r.row}`));
  }
  return found;
}

describe("a source URL's credentials, query and fragment are repeated nowhere when its ingest fails", () => {
  const secrets = Object.values(SECRETS);
  const query = `?token=${SECRETS.token}&sig=${SECRETS.token}#${SECRETS.fragment}`;

  it.each([
    ['with credentials', () => `http://${SECRETS.user}:${SECRETS.password}@${new URL(filesUrl).host}/dragon.png${query}`, /credentials/],
    ['that is not a URL', () => `http://${SECRETS.user}:${SECRETS.password}@[::1${query}`, /not a URL/],
  ])('a URL %s: 400, and the problem does not repeat them', async (_what, url, reason) => {
    const name = `secret ${uuidv7()}`;
    const res = await post(event(url(), name));
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ path: 'data.source_url', message: expect.stringMatching(reason) }]);
    for (const secret of secrets) expect(JSON.stringify(res.body)).not.toContain(secret);
    expect(await ctx.db('upload_sessions').where({ name })).toEqual([]);
  });

  it.each([
    [
      'refuses connections',
      () => `http://127.0.0.1:${closedPort}/dragon.png${query}`,
      () => `fetching http://127.0.0.1:${closedPort}/dragon.png?token&sig failed`,
    ],
    ['answers 500', () => `${filesUrl}/broken${query}`, () => `fetching ${filesUrl}/broken?token&sig answered 500`],
    [
      'redirects to a URL with credentials',
      () => `${filesUrl}/to-credentials${query}`,
      () => `redirected to http://127.0.0.1:${internalPort}/dir/status?token,`,
    ],
    [
      'redirects to a Location that is not a URL',
      () => `${filesUrl}/to-nowhere`,
      () => `fetching ${filesUrl}/to-nowhere answered 302 with a Location that is not a URL`,
    ],
  ])(
    'a source that %s: the run fails saying where, by host, path and parameter names alone, in its status, the catalog and its history',
    async (_what, url, says) => {
      const name = `secret ${uuidv7()}`;
      const res = await post(event(url(), name));
      expect(res.status).toBe(202);
      const state = await outcome(res.body.workflow_id);
      expect(state).toMatchObject({ status: 'failed', error: expect.stringContaining(says()) });
      const session = await sessionOf(res.body.workflow_id);
      expect(session.body).toMatchObject({ status: 'failed', error: state.error });
      const feed = await call(`${ctx.baseUrl}/api/v2/events?limit=1000`);
      // The run's history: its failures' messages (the input's payloads are bytes, and must hold the URL to fetch it).
      const { events } = await ctx.temporal.client.workflow.getHandle(res.body.workflow_id).fetchHistory();
      for (const secret of secrets) {
        for (const shown of [state.error, JSON.stringify(session.body), JSON.stringify(feed.body), JSON.stringify(events)]) expect(shown).not.toContain(secret);
        expect(await rowsHolding(secret)).toEqual([]);
      }
      expect(internalHits).toBe(0);
    },
  );
});

/**
 * A DNS answer that changes between the check and the connection cannot be produced over HTTP (the
 * service uses the system's resolver), so these give openSource a resolver of their own: it answers
 * the check with one address and any later question with another, which a second server listens on.
 */
describe('the connection goes to the address that was checked (DNS rebinding)', () => {
  async function serve(host: string, port: number, body: string): Promise<{ server: http.Server; hosts: string[] }> {
    const hosts: string[] = [];
    const server = http.createServer((req, res) => {
      hosts.push(req.headers.host!);
      res.writeHead(200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    return { server, hosts };
  }

  it("the host is resolved once per hop, and the bytes come from the address checked, asked for by the URL's host", async () => {
    const checked = await serve('127.0.0.1', 0, 'from the checked address');
    const port = (checked.server.address() as AddressInfo).port;
    const rebound = await serve('127.0.0.2', port, 'from the rebound address');
    const questions: string[] = [];
    const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
      questions.push(hostname);
      return [{ address: questions.length === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    };
    try {
      const source = await openSource(`http://rebind.test:${port}/file`, { allowedHosts: [`rebind.test:${port}`], timeoutMs: 5000, attemptMs: 30_000, lookup });
      const chunks: Buffer[] = [];
      for await (const chunk of source.body) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('from the checked address');
      expect(questions).toEqual(['rebind.test']);
      expect(checked.hosts).toEqual([`rebind.test:${port}`]);
      expect(rebound.hosts).toEqual([]);
    } finally {
      for (const { server } of [checked, rebound]) server.close();
    }
  });

  it("a source that never ends its body, never pausing long enough to time out, is given up at the attempt's deadline, for good", async () => {
    let drip: NodeJS.Timeout | undefined;
    const dripping = http.createServer((_req, res) => {
      res.writeHead(200);
      drip = setInterval(() => res.write('x'), 100);
    });
    await new Promise<void>((resolve) => dripping.listen(0, '127.0.0.1', resolve));
    const port = (dripping.address() as AddressInfo).port;
    try {
      const source = await openSource(`http://127.0.0.1:${port}/endless?token=${SECRETS.token}`, {
        allowedHosts: [`127.0.0.1:${port}`],
        timeoutMs: 1000,
        attemptMs: 1500,
      });
      const reading = (async () => {
        for await (const _chunk of source.body);
      })();
      await expect(reading).rejects.toThrow(SourceRefusedError);
      await expect(reading).rejects.toThrow(`fetching http://127.0.0.1:${port}/endless?token took longer than 1.5 s`);
    } finally {
      clearInterval(drip);
      dripping.closeAllConnections();
      dripping.close();
    }
  });

  it('a name whose answers include an IPv6 address reaching a refused IPv4 one (NAT64, 6to4, Teredo) is refused before any connection', async () => {
    for (const address of ['64:ff9b::a9fe:a9fe', '2002:a00:1::', '2001:0:1:2:3:4:80ff:fffe']) {
      const lookup = async (): Promise<ResolvedAddress[]> => [
        { address: '93.184.216.34', family: 4 },
        { address, family: 6 },
      ];
      const opening = openSource('https://files.example/x.png', { allowedHosts: ['files.example'], timeoutMs: 5000, attemptMs: 30_000, lookup });
      await expect(opening).rejects.toThrow(SourceRefusedError);
      await expect(opening).rejects.toThrow(`files.example resolves to ${address}, a `);
    }
  });

  it('a name with any refused address among its answers is refused before any connection', async () => {
    const lookup = async (): Promise<ResolvedAddress[]> => [
      { address: '93.184.216.34', family: 4 },
      { address: '::ffff:169.254.169.254', family: 6 },
    ];
    const opening = openSource('https://files.example/x.png', { allowedHosts: ['files.example'], timeoutMs: 5000, attemptMs: 30_000, lookup });
    await expect(opening).rejects.toThrow(SourceRefusedError);
    await expect(opening).rejects.toThrow('files.example resolves to ::ffff:169.254.169.254, a link-local address');
  });
});
