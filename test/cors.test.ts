/**
 * CORS over HTTP: a preflight from an allowed origin needs no token and lists what the API takes; a
 * cross-origin answer names its origin and exposes the headers clients read; a disallowed origin,
 * and a service with STORAGE_CORS_ORIGINS empty, get no CORS header at all.
 */
import { useTestService, serveWith } from './support/context';
import { call } from './support/http';

const ALLOWED = 'https://creator.example';
const ALSO_ALLOWED = 'http://localhost:5173';

// The origins as an operator may write them: the second with a trailing slash.
const ctx = useTestService({ STORAGE_CORS_ORIGINS: `${ALLOWED}, ${ALSO_ALLOWED}/` }, { worker: false });

const corsHeadersOf = (headers: Headers) => [...headers.keys()].filter((name) => name.startsWith('access-control-'));
const listOf = (header: string | null) => (header ?? '').split(',').map((item) => item.trim().toLowerCase());

function preflight(baseUrl: string, path: string, origin: string, method = 'PUT') {
  return fetch(`${baseUrl}${path}`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization, if-match, content-type' },
  });
}

describe('an allowed origin', () => {
  it('gets its preflight answered without a token: 204, the methods, the headers, a max-age', async () => {
    const res = await preflight(ctx.baseUrl, '/api/v2/assets/0190a000-0000-7000-8000-000000000000', ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(listOf(res.headers.get('vary'))).toContain('origin');
    expect(listOf(res.headers.get('access-control-allow-methods'))).toEqual(expect.arrayContaining(['get', 'head', 'post', 'put', 'delete']));
    expect(listOf(res.headers.get('access-control-allow-headers'))).toEqual(
      expect.arrayContaining([
        'authorization',
        'content-type',
        'range',
        'if-match',
        'if-none-match',
        'if-modified-since',
        'if-unmodified-since',
        'if-range',
        'x-checksum-sha256',
        'x-request-id',
      ]),
    );
    expect(Number(res.headers.get('access-control-max-age'))).toBeGreaterThan(0);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('gets a preflight of an admin route answered too: the token comes with the request itself', async () => {
    const res = await preflight(ctx.baseUrl, '/api/v2/backups', ALSO_ALLOWED, 'POST');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALSO_ALLOWED);
  });

  it('sees its origin and the exposed headers on answers, errors included', async () => {
    const listed = await call(`${ctx.baseUrl}/api/v2/assets`, { headers: { Origin: ALLOWED } });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(listOf(listed.headers.get('vary'))).toContain('origin');
    expect(listOf(listed.headers.get('access-control-expose-headers'))).toEqual(
      expect.arrayContaining([
        'etag',
        'location',
        'content-range',
        'content-disposition',
        'content-length',
        'accept-ranges',
        'x-request-id',
        'retry-after',
        'ratelimit',
        'ratelimit-policy',
      ]),
    );

    const refused = await call(`${ctx.baseUrl}/api/v2/assets`, { headers: { Origin: ALLOWED }, as: null });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });
});

describe('no CORS header', () => {
  it('for a disallowed origin: neither on a preflight nor on an answer', async () => {
    const pre = await preflight(ctx.baseUrl, '/api/v2/assets', 'https://elsewhere.example');
    expect(corsHeadersOf(pre.headers)).toEqual([]);
    const res = await call(`${ctx.baseUrl}/api/v2/assets`, { headers: { Origin: 'https://elsewhere.example' } });
    expect(res.status).toBe(200);
    expect(corsHeadersOf(res.headers)).toEqual([]);
    // An allowed origin's host under another scheme is another origin.
    expect(corsHeadersOf((await preflight(ctx.baseUrl, '/api/v2/assets', 'http://creator.example')).headers)).toEqual([]);
  });

  it('with STORAGE_CORS_ORIGINS empty, whatever the origin', async () => {
    const { baseUrl, close } = await serveWith(ctx, (config) => ({ ...config, cors: { origins: [] } }));
    try {
      const pre = await preflight(baseUrl, '/api/v2/assets', ALLOWED);
      expect(corsHeadersOf(pre.headers)).toEqual([]);
      const res = await call(`${baseUrl}/api/v2/assets`, { headers: { Origin: ALLOWED } });
      expect(res.status).toBe(200);
      expect(corsHeadersOf(res.headers)).toEqual([]);
      expect(res.headers.get('vary')).toBeNull();
    } finally {
      await close();
    }
  });
});
