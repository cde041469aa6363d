import { toPolicyJson, type Policy } from '../../lib/lifecycle/policies';

const policy: Policy = {
  id: '0190a000-0000-7000-8000-000000000001',
  name: 'old maps',
  description: null,
  enabled: true,
  filter: { tags: ['map'], content_type: 'image/png', name_prefix: 'maps/' },
  rules: [
    { action: 'purge_deleted', days: 30 },
    { action: 'expire_noncurrent_versions', noncurrent_days: 7, keep_latest: 2 },
  ],
  created_at: new Date('2026-01-02T03:04:05.000Z'),
  updated_at: new Date('2026-02-03T04:05:06.000Z'),
} as unknown as Policy;

describe('a policy as the API answers it (lib/lifecycle/policies.ts)', () => {
  it('has its filter’s parts in one order, its rules as given, its times in ISO 8601', () => {
    const json = toPolicyJson(policy);
    expect(Object.keys(json.filter)).toEqual(['name_prefix', 'content_type', 'tags']);
    expect(json).toEqual({
      id: policy.id,
      name: 'old maps',
      description: null,
      enabled: true,
      filter: { name_prefix: 'maps/', content_type: 'image/png', tags: ['map'] },
      rules: policy.rules,
      created_at: '2026-01-02T03:04:05.000Z',
      updated_at: '2026-02-03T04:05:06.000Z',
    });
  });

  it('leaves out the filter’s parts that are not set', () => {
    expect(toPolicyJson({ ...policy, filter: { content_type: 'text/plain' } }).filter).toEqual({ content_type: 'text/plain' });
    expect(toPolicyJson({ ...policy, filter: {} }).filter).toEqual({});
  });
});
