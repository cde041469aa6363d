import type { Request } from 'express';
import { preferredWait } from '../../api/http/operations';
import { accessOf, parameterCountOf, patternOf } from '../../api/http/route';
import { OPERATIONS } from '../../api/routes';

const ACCESS = ['anyone', 'caller', 'service', 'admin'];

describe('the route declarations (api/routes/index.ts OPERATIONS)', () => {
  it('gives every route an access rule, and no route twice', () => {
    for (const route of OPERATIONS) expect([...ACCESS, 'metrics']).toContain(route.access);
    const keys = OPERATIONS.map((r) => `${r.method} ${r.path.toLowerCase()}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('every route resolves to one of the four rules under either /metrics setting', () => {
    for (const route of OPERATIONS) {
      expect(ACCESS).toContain(accessOf(route, { metricsAccess: 'open' }));
      expect(ACCESS).toContain(accessOf(route, { metricsAccess: 'admin' }));
    }
    expect(accessOf({ access: 'metrics' }, { metricsAccess: 'open' })).toBe('anyone');
    expect(accessOf({ access: 'metrics' }, { metricsAccess: 'admin' })).toBe('admin');
  });

  it('every POST, PUT, PATCH and DELETE says how it takes If-Match, a route that takes none why; no read takes any', () => {
    for (const route of OPERATIONS) {
      const changes = ['post', 'put', 'patch', 'delete'].includes(route.method);
      const declared = route.preconditions;
      if (!changes) expect({ route: route.path, declared }).toEqual({ route: route.path, declared: undefined });
      else if (typeof declared === 'object') expect(declared.none).toMatch(/\w{3}/);
      else
        expect({ route: `${route.method} ${route.path}`, declared }).toEqual({
          route: `${route.method} ${route.path}`,
          declared: expect.stringMatching(/^(existing|unchanged|create|create-or-existing)$/),
        });
    }
  });

  it('matches paths as Express does: a parameter is one segment, case and a trailing slash do not matter', () => {
    const pattern = patternOf('/api/v2/assets/:id');
    expect(pattern.test('/api/v2/assets/abc')).toBe(true);
    expect(pattern.test('/API/v2/Assets/abc/')).toBe(true);
    expect(pattern.test('/api/v2/assets/abc/versions')).toBe(false);
  });

  it('keeps a literal colon after a parameter (AIP-136 custom methods), and matches it before the bare parameter', () => {
    const cancel = '/api/v2/operations/:id\\:cancel';
    expect(patternOf(cancel).test('/api/v2/operations/backup-1:cancel')).toBe(true);
    expect(patternOf(cancel).test('/api/v2/operations/backup-1')).toBe(false);
    expect(parameterCountOf(cancel)).toBeLessThan(parameterCountOf('/api/v2/operations/:id'));
    expect(parameterCountOf('/api/v2/assets/:id/versions/:versionId')).toBe(2);
  });
});

describe('Prefer: wait (RFC 7240)', () => {
  const prefer = (value?: string) => ({ get: (name: string) => (name === 'Prefer' ? value : undefined) }) as unknown as Request;

  it('reads wait=N among other preferences, capped at the request timeout; none, or a malformed one, is no wait', () => {
    expect(preferredWait(prefer('wait=5'), 30_000)).toEqual({ ms: 5000, applied: 'wait=5' });
    expect(preferredWait(prefer('respond-async, wait=0'), 30_000)).toEqual({ ms: 0, applied: 'wait=0' });
    expect(preferredWait(prefer('wait=600'), 30_000)).toEqual({ ms: 30_000, applied: 'wait=30' });
    expect(preferredWait(prefer(), 30_000)).toBeUndefined();
    expect(preferredWait(prefer('wait=soon'), 30_000)).toBeUndefined();
  });
});
