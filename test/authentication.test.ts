/**
 * Identity over HTTP, on every route of the route table (which test/openapi.test.ts keeps equal to
 * what the app serves): each kind of bad token is a 401 that says which check failed, a verified
 * caller without the role a route asks for is a 403, and none of those requests changes anything.
 * Then the Auth Service rotates its key while a service runs.
 */
import { SignJWT, base64url, importJWK, type JWK, type JWTPayload } from 'jose';
import { ROUTES } from '../api/routes';
import { accessOf } from '../api/http/route';
import { newSigningKey, signToken, startTestIssuer, TEST_AUDIENCE, TEST_ISSUER, type TestIssuer } from './support/issuer';
import { adminToken, tokenFor } from './support/auth';
import { useTestService } from './support/context';
import { call, type JsonAnswer } from './support/http';
import { objectKeys } from './support/catalog';
import { waitUntil } from './support/processes';
import { freePorts } from '../scripts/stack';

const SOME_ID = '0190a000-0000-7000-8000-000000000001';

const ctx = useTestService();

/** Each route with its parameters filled in, as a client would call it. */
const routes = ROUTES.map((route) => ({
  route,
  label: `${route.method.toUpperCase()} ${route.path}`,
  // A literal colon after a parameter (`:id\:cancel`) stays a colon.
  path: route.path.replace(/(?<!\\):(\w+)/g, (_m, name: string) => ({ n: '1', kind: 'conflict' })[name] ?? SOME_ID).replace(/\\:/g, ':'),
}));
const guarded = routes.filter(({ route }) => accessOf(route, { metricsAccess: 'open' }) !== 'anyone');

function send(r: (typeof routes)[number], init: Parameters<typeof call>[1] = {}): Promise<JsonAnswer> {
  const body = r.route.method === 'get' ? {} : { json: {} };
  return call(`${ctx.baseUrl}${r.path}`, { method: r.route.method.toUpperCase(), ...body, ...init });
}

/** Rows of every table a request could change, and the objects of the bucket. */
async function footprint() {
  const tables = ['assets', 'asset_versions', 'upload_sessions', 'outbox_events', 'lifecycle_policies', 'lifecycle_runs', 'backup_jobs', 'owner_quotas'];
  const counts = await Promise.all(tables.map(async (t) => [t, Number((await ctx.db(t).count({ n: '*' }))[0].n)] as const));
  return { ...Object.fromEntries(counts), objects: (await objectKeys(ctx, '')).length };
}

/**
 * Signed by the suite's key with exactly `claims` beside `iss` and `aud`: jose's own setters refuse
 * a `sub` that is not a string, which is what some cases are about.
 */
async function suiteSigned(claims: Record<string, unknown>): Promise<string> {
  const { kid, privateJwk } = JSON.parse(process.env.STORAGE_TEST_AUTH_SIGNING_KEY!) as { kid: string; privateJwk: JWK };
  const payload: JWTPayload = { iss: TEST_ISSUER, aud: TEST_AUDIENCE, ...claims };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(await importJWK(privateJwk, 'ES256'));
}

function unsigned(claims: Record<string, unknown>): string {
  const part = (value: object) => base64url.encode(JSON.stringify(value));
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

describe('a request without a valid token is 401 on every guarded route, and changes nothing', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const suiteKid = () => (JSON.parse(process.env.STORAGE_TEST_AUTH_SIGNING_KEY!) as { kid: string }).kid;
  type Case = [string, () => Promise<Parameters<typeof call>[1]>, RegExp];
  const cases: Case[] = [
    ['no Authorization header', async () => ({ as: null }), /send Authorization: Bearer/],
    ['a header that is not Bearer', async () => ({ as: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }), /not "Bearer <token>"/],
    ['a token that is not a JWT', async () => ({ as: 'not-a-token' }), /malformed/],
    [
      'a bad signature (another key under the same kid)',
      async () => ({ as: await signToken({ ...(await newSigningKey()), kid: suiteKid() }, { roles: ['storage:admin'] }) }),
      /signature/,
    ],
    [
      'alg: none',
      async () => ({ as: unsigned({ sub: 'mallory', roles: ['storage:admin'], iss: TEST_ISSUER, aud: TEST_AUDIENCE, exp: now() + 600 }) }),
      /algorithm/,
    ],
    [
      'HS256 signed with the public key (algorithm confusion)',
      async () => {
        const publicJwk = JSON.stringify((JSON.parse(process.env.STORAGE_TEST_AUTH_SIGNING_KEY!) as { publicJwk: object }).publicJwk);
        const token = await new SignJWT({ roles: ['storage:admin'] })
          .setProtectedHeader({ alg: 'HS256', kid: suiteKid() })
          .setSubject('mallory')
          .setIssuer(TEST_ISSUER)
          .setAudience(TEST_AUDIENCE)
          .setExpirationTime(now() + 600)
          .sign(new TextEncoder().encode(publicJwk));
        return { as: token };
      },
      /algorithm/,
    ],
    ['an expired token', async () => ({ as: await tokenFor({ roles: ['storage:admin'], expiresIn: -120 }) }), /expired/],
    ['a token not valid yet', async () => ({ as: await tokenFor({ roles: ['storage:admin'], notBefore: 600 }) }), /"nbf" claim/],
    ['the wrong issuer', async () => ({ as: await tokenFor({ roles: ['storage:admin'], iss: 'someone-else' }) }), /"iss" claim/],
    ['the wrong audience', async () => ({ as: await tokenFor({ roles: ['storage:admin'], aud: 'another-service' }) }), /"aud" claim/],
    ['no subject', async () => ({ as: await tokenFor({ roles: ['storage:admin'], sub: null }) }), /"sub" claim/],
    ...[true, 42, { id: 'alice' }, ['alice'], ''].map((sub): Case => [
      `a "sub" that is not a non-empty string (${JSON.stringify(sub)})`,
      async () => ({ as: await suiteSigned({ sub, roles: ['storage:admin'], exp: now() + 600 }) }),
      /"sub" claim/,
    ]),
    ['a "sub" of 256 characters', async () => ({ as: await tokenFor({ roles: ['storage:admin'], sub: 'a'.repeat(256) }) }), /"sub" claim/],
    ['a "sub" with a control character', async () => ({ as: await tokenFor({ roles: ['storage:admin'], sub: 'ali\u0000ce' }) }), /"sub" claim/],
    [
      'a token that lives longer than a day (exp - iat)',
      async () => ({ as: await tokenFor({ roles: ['storage:admin'], expiresIn: 86_400 + 1 }) }),
      /lives longer than 86400 seconds/,
    ],
    [
      'a token without "iat" whose "exp" is more than a day away',
      async () => ({ as: await suiteSigned({ sub: 'mallory', roles: ['storage:admin'], exp: now() + 2 * 86_400 }) }),
      /lives longer than 86400 seconds/,
    ],
    [
      'no expiry',
      async () => ({
        as: await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256' })
          .sign(new Uint8Array(32))
          .catch(() => 'x.y.z'),
      }),
      /./,
    ],
  ];

  it.each(cases)('%s', async (_what, init, detail) => {
    const before = await footprint();
    const given = await init();
    for (const r of guarded) {
      const res = await send(r, given);
      expect({ route: r.label, status: res.status }).toEqual({ route: r.label, status: 401 });
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token", error_description="/);
      expect(res.body).toMatchObject({ status: 401, detail: expect.stringMatching(detail) });
    }
    expect(await footprint()).toEqual(before);
  });

  it('the limits are inclusive: a "sub" of 255 characters, living exactly a day, with or without "iat", is accepted', async () => {
    const sub = 'a'.repeat(255);
    for (const as of [await tokenFor({ sub, expiresIn: 86_400 }), await suiteSigned({ sub, exp: now() + 86_400 })]) {
      expect((await call(`${ctx.baseUrl}/api/v2/assets`, { as })).status).toBe(200);
    }
  });

  it('a path the table does not know needs a token too: 401, and 404 with one', async () => {
    expect((await call(`${ctx.baseUrl}/api/v2/nothing-here`, { as: null })).status).toBe(401);
    expect((await call(`${ctx.baseUrl}/api/v2/nothing-here`)).status).toBe(404);
  });
});

describe('roles', () => {
  const byAccess = (access: string) => guarded.filter(({ route }) => accessOf(route, { metricsAccess: 'open' }) === access);

  it('public routes answer without a token', async () => {
    for (const r of routes.filter((x) => !guarded.includes(x))) {
      const res = await send(r, { as: null });
      // A signed URL's route takes no token, but refuses a request that carries no signature.
      if (r.route.path.startsWith('/api/v2/signed/')) expect(res.status).toBe(403);
      else expect([200, 503]).toContain(res.status);
    }
  });

  it('admin routes: 403 for a user and for a service, changing nothing; an admin passes', async () => {
    const user = await tokenFor({ sub: 'alice', groups: ['campaign-42'] });
    const service = await tokenFor({ sub: 'character-service', roles: ['storage:service'] });
    const before = await footprint();
    for (const r of byAccess('admin')) {
      for (const as of [user, service]) {
        const res = await send(r, { as });
        expect({ route: r.label, status: res.status }).toEqual({ route: r.label, status: 403 });
        expect(res.body).toMatchObject({ status: 403, title: 'Forbidden', detail: expect.stringMatching(/for admins/) });
      }
    }
    expect(await footprint()).toEqual(before);
    const started: string[] = [];
    for (const r of byAccess('admin')) {
      const res = await send(r, { as: await adminToken() });
      expect({ route: r.label, status: String(res.status) }).toEqual({ route: r.label, status: expect.not.stringMatching(/^40[13]$/) });
      if (res.status === 202 && typeof res.body?.workflow_id === 'string') started.push(res.body.workflow_id);
    }
    // The runs an admin started (a backup, a scrub...) write their rows and events as they end: the
    // next case counts rows, so they end here, whatever their outcome.
    await Promise.all(
      started.map((id) =>
        ctx.temporal.client.workflow
          .getHandle(id)
          .result()
          .catch(() => undefined),
      ),
    );
  });

  it('service routes: 403 for a user, changing nothing; a service and an admin pass', async () => {
    const before = await footprint();
    for (const r of byAccess('service')) {
      const res = await send(r, { as: await tokenFor({ sub: 'alice' }) });
      expect({ route: r.label, status: res.status }).toEqual({ route: r.label, status: 403 });
    }
    expect(await footprint()).toEqual(before);
    for (const r of byAccess('service')) {
      for (const as of [await tokenFor({ sub: 'character-service', roles: ['storage:service'] }), await adminToken()]) {
        const res = await send(r, { as });
        expect({ route: r.label, status: String(res.status) }).toEqual({ route: r.label, status: expect.not.stringMatching(/^40[13]$/) });
      }
    }
  });

  it('caller routes take any verified user', async () => {
    const user = await tokenFor({ sub: 'alice' });
    for (const r of byAccess('caller')) {
      const res = await send(r, { as: user });
      expect({ route: r.label, status: String(res.status) }).toEqual({ route: r.label, status: expect.not.stringMatching(/^40[13]$/) });
    }
  });

  it('roles outside the storage ones are ignored, in a list or a space-separated string', async () => {
    const listed = await call(`${ctx.baseUrl}/api/v2/policies`, { as: await tokenFor({ roles: ['admin', 'storage:owner'] }) });
    expect(listed.status).toBe(403);
    const spaced = await call(`${ctx.baseUrl}/api/v2/policies`, { as: await tokenFor({ roles: 'reader storage:admin' as unknown as string[] }) });
    expect(spaced.status).toBe(200);
  });
});

describe('the Auth Service rotates its key', () => {
  let issuer: TestIssuer;
  beforeAll(async () => {
    issuer = await startTestIssuer();
  });
  const rotating = useTestService(
    () => ({ STORAGE_AUTH_JWKS_URL: issuer.jwksUrl, STORAGE_AUTH_JWKS_COOLDOWN_SECONDS: '1', STORAGE_AUTH_JWKS_CACHE_SECONDS: '2' }),
    { worker: false },
  );
  afterAll(async () => {
    await issuer?.stop();
  });

  const assets = () => `${rotating.baseUrl}/api/v2/assets`;

  it('a token of the new kid is accepted after one refetch; the old key is refused once it is gone', async () => {
    const [oldKey] = issuer.keys;
    const oldToken = await signToken(oldKey, { sub: 'alice' });
    expect((await call(assets(), { as: oldToken })).status).toBe(200);
    const fetchedOnce = issuer.fetches();
    expect(fetchedOnce).toBe(1);

    // The cached set answers while it is fresh: no fetch per request.
    expect((await call(assets(), { as: oldToken })).status).toBe(200);
    expect(issuer.fetches()).toBe(fetchedOnce);

    const newKey = await issuer.addKey();
    issuer.removeKey(oldKey.kid);
    const newToken = await signToken(newKey, { sub: 'alice' });
    // An unknown kid fetches the set again, once its cooldown has passed since the last fetch.
    const accepted = await waitUntil('the new key to be accepted', async () => (await call(assets(), { as: newToken })).status === 200, 10_000, 250);
    expect(accepted).toBe(true);
    const fetchedForNewKey = issuer.fetches();
    expect(fetchedForNewKey).toBeGreaterThan(fetchedOnce);

    const refused = await waitUntil(
      'the removed key to be refused',
      async () => {
        const res = await call(assets(), { as: oldToken });
        return res.status === 401 && res;
      },
      10_000,
      250,
    );
    expect(refused.body.detail).toMatch(/not among the issuer's keys/);
    expect((await call(assets(), { as: newToken })).status).toBe(200);
  });

  it('an unknown kid does not make it fetch more than once per cooldown', async () => {
    const stranger = await newSigningKey();
    const before = issuer.fetches();
    for (let i = 0; i < 10; i++) expect((await call(assets(), { as: await signToken(stranger, { sub: 'mallory' }) })).status).toBe(401);
    expect(issuer.fetches() - before).toBeLessThanOrEqual(2);
  });
});

describe('the Auth Service cannot be reached', () => {
  let port: number;
  beforeAll(async () => {
    [port] = await freePorts(1);
  });
  const unreachable = useTestService(() => ({ STORAGE_AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` }), { worker: false });

  it('a token that cannot be checked is 503 with Retry-After, not 401: it may be good', async () => {
    const res = await call(`${unreachable.baseUrl}/api/v2/assets`, { as: await tokenFor({ sub: 'alice' }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.body.detail).toMatch(/keys could not be fetched/);
  });
});
