/** Lifecycle policies: the list, a new one with its rule (an action and its days), and deleting one. */
import { useState } from 'preact/hooks';
import { unwrap, type components } from '../../api';
import { Pager, type Cursor } from '../../components/paging';
import { ProblemNotice } from '../../components/ProblemNotice';
import { TableScroll } from '../../components/TableScroll';
import type { Resource } from '../../components/useResource';
import { useConsole } from '../../context';

type Policy = components['schemas']['Policy'];
type Rule = Policy['rules'][number];
type Action = Rule['action'];

const ACTIONS: Array<{ action: Action; label: string }> = [
  { action: 'expire_noncurrent_versions', label: 'Expire noncurrent versions' },
  { action: 'expire_assets', label: 'Expire (soft-delete) assets' },
  { action: 'purge_deleted', label: 'Purge soft-deleted assets' },
  { action: 'abort_incomplete_uploads', label: 'Abort incomplete uploads' },
];

export function ruleText(rule: Rule): string {
  if (rule.action === 'expire_noncurrent_versions')
    return `expire noncurrent versions after ${rule.noncurrent_days} day(s)${rule.keep_latest !== undefined ? `, keep the latest ${rule.keep_latest}` : ''}`;
  return `${rule.action.replace(/_/g, ' ')} after ${rule.days} day(s)`;
}

function filterText(filter: Policy['filter']): string {
  const parts = [
    filter.name_prefix && `names starting ${filter.name_prefix}`,
    filter.content_type && `type ${filter.content_type}`,
    filter.tags && filter.tags.length > 0 && `tags ${filter.tags.join(', ')}`,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'every asset';
}

// An empty field is left out; a number field's text is sent as a number (not one: the API says why).
const numberOf = (text: string) => (text.trim() === '' ? undefined : Number(text));

function NewPolicy(props: { onCreated(): void }) {
  const { api } = useConsole();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [action, setAction] = useState<Action>('expire_noncurrent_versions');
  const [days, setDays] = useState('30');
  const [keepLatest, setKeepLatest] = useState('');
  const [namePrefix, setNamePrefix] = useState('');
  const [contentType, setContentType] = useState('');
  const [tags, setTags] = useState('');
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [said, setSaid] = useState('');
  // Each call carries a new Idempotency-Key: a second click while one is in flight would be a second create.
  const [busy, setBusy] = useState(false);
  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaid('');
    const n = numberOf(days) as number;
    const rule = action === 'expire_noncurrent_versions' ? { action, noncurrent_days: n, keep_latest: numberOf(keepLatest) } : ({ action, days: n } as Rule);
    const tagList = tags
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    const filter = {
      name_prefix: namePrefix.trim() || undefined,
      content_type: contentType.trim() || undefined,
      tags: tagList.length > 0 ? tagList : undefined,
    };
    try {
      const policy = await unwrap(api.POST('/api/v2/policies', { body: { name, description, enabled, filter, rules: [rule as Rule] } }));
      setSaid(`Policy ${policy.name} created.`);
      setName('');
      props.onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={create} aria-labelledby="new-policy" noValidate>
      <h3 id="new-policy">New policy</h3>
      <label for="policy-name">Name</label>
      <input id="policy-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="policy-description">Description</label>
      <input id="policy-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      <label for="policy-action">Action</label>
      <select id="policy-action" value={action} onChange={(e) => setAction(e.currentTarget.value as Action)}>
        {ACTIONS.map((a) => (
          <option key={a.action} value={a.action}>
            {a.label}
          </option>
        ))}
      </select>
      <label for="policy-days">{action === 'expire_noncurrent_versions' ? 'Days after a version stops being current' : 'Days'}</label>
      <input id="policy-days" type="number" inputMode="numeric" min={1} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
      {action === 'expire_noncurrent_versions' && (
        <>
          <label for="policy-keep">Keep the latest noncurrent versions (optional)</label>
          <input id="policy-keep" type="number" inputMode="numeric" min={0} value={keepLatest} onInput={(e) => setKeepLatest(e.currentTarget.value)} />
        </>
      )}
      <fieldset>
        <legend>Which assets (all optional)</legend>
        <label for="policy-prefix">Name prefix</label>
        <input id="policy-prefix" value={namePrefix} onInput={(e) => setNamePrefix(e.currentTarget.value)} />
        <label for="policy-type">Content type</label>
        <input id="policy-type" value={contentType} placeholder="image/*" onInput={(e) => setContentType(e.currentTarget.value)} />
        <label for="policy-tags">Tags (comma separated)</label>
        <input id="policy-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
      </fieldset>
      <label>
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} /> Enabled
      </label>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Create policy
        </button>
      </div>
      <p role="status">{said}</p>
      {error !== null && <ProblemNotice error={error} title="The policy was not created" />}
    </form>
  );
}

export function PoliciesSection(props: { policies: Resource<{ items: Policy[]; next_cursor: string | null }>; at: Cursor }) {
  const { api } = useConsole();
  const { policies, at } = props;
  const [confirming, setConfirming] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const remove = async (policy: Policy) => {
    setError(null);
    try {
      await unwrap(api.DELETE('/api/v2/policies/{id}', { params: { path: { id: policy.id } } }));
      setConfirming(null);
      policies.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="policies-heading">
      <h2 id="policies-heading">Policies</h2>
      {policies.error !== undefined && <ProblemNotice error={policies.error} />}
      {error !== null && <ProblemNotice error={error} title="The policy was not deleted" />}
      {policies.data && policies.data.items.length === 0 && <p class="muted">No policies: the global settings alone apply.</p>}
      {policies.data && policies.data.items.length > 0 && (
        <TableScroll label="Lifecycle policies, oldest first">
          <table>
            <caption class="visually-hidden">Lifecycle policies, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Rules</th>
                <th scope="col">Assets</th>
                <th scope="col">Enabled</th>
                <th scope="col">Delete</th>
              </tr>
            </thead>
            <tbody>
              {policies.data.items.map((p) => (
                <tr key={p.id}>
                  <th scope="row">{p.name}</th>
                  <td>{p.rules.map(ruleText).join('; ')}</td>
                  <td>{filterText(p.filter)}</td>
                  <td>{p.enabled ? 'yes' : 'no'}</td>
                  <td>
                    {confirming === p.id ? (
                      <span class="actions">
                        <button type="button" class="danger" onClick={() => void remove(p)} aria-label={`Confirm delete of policy ${p.name}`}>
                          Confirm delete
                        </button>
                        <button type="button" onClick={() => setConfirming(null)}>
                          Keep
                        </button>
                      </span>
                    ) : (
                      <button type="button" onClick={() => setConfirming(p.id)} aria-label={`Delete policy ${p.name}`}>
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={policies.data?.next_cursor} label="policies" />
      <NewPolicy onCreated={policies.reload} />
    </section>
  );
}
