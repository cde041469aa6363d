import { accessOf, patternOf } from '../../api/http/route';
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
});
