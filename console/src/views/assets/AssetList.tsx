/**
 * The asset list: filters by name, tag and type (and owner, for admins), cursor paging, and a grid of
 * thumbnails or a table. Everything it shows is in the address (listQuery.ts).
 */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { useLocation } from '../../router';
import { AssetGrid } from './AssetGrid';
import { AssetTable } from './AssetTable';
import { PAGE_SIZES, listQueryOf, showList, type ListQuery } from './listQuery';

const TYPE_SUGGESTIONS = ['image/*', 'application/pdf', 'text/*', 'audio/*', 'video/*', 'application/json'];

export function AssetList() {
  const { api, session } = useConsole();
  const where = useLocation();
  const q = listQueryOf(where.query);
  const go = (next: Partial<ListQuery>, opts?: { replace?: boolean }) => showList(where.path, { ...q, ...next }, opts);

  const page = useResource(
    (signal) =>
      unwrap(
        api.GET('/api/v2/assets', {
          params: {
            query: {
              limit: q.limit,
              cursor: q.cursor || undefined,
              name_prefix: q.name || undefined,
              tag: q.tag ? [q.tag] : undefined,
              content_type: q.type || undefined,
              owner_id: session.isAdmin && q.owner ? q.owner : undefined,
            },
          },
          signal,
        }),
      ),
    [q.limit, q.cursor, q.name, q.tag, q.type, q.owner],
  );
  const items = page.data?.items ?? [];

  return (
    <section>
      <h1 tabIndex={-1}>Assets</h1>
      <Filters key={[q.name, q.tag, q.type, q.owner].join('\n')} query={q} isAdmin={session.isAdmin} onApply={(next) => go({ ...next, cursor: '' })} />
      <div class="actions asset-list-controls">
        <fieldset class="view-switch">
          <legend class="visually-hidden">View</legend>
          <button type="button" aria-pressed={q.view === 'grid'} onClick={() => go({ view: 'grid' }, { replace: true })}>
            Grid
          </button>
          <button type="button" aria-pressed={q.view === 'table'} onClick={() => go({ view: 'table' }, { replace: true })}>
            Table
          </button>
        </fieldset>
        <label class="inline" for="asset-page-size">
          Per page
        </label>
        <select id="asset-page-size" value={String(q.limit)} onChange={(e) => go({ limit: Number(e.currentTarget.value), cursor: '' })}>
          {[...new Set<number>([...PAGE_SIZES, q.limit])]
            .sort((a, b) => a - b)
            .map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
        </select>
      </div>
      {page.error !== undefined && <ProblemNotice error={page.error} title="The list could not be loaded" />}
      <p role="status" class="muted">
        {page.loading ? 'Loading…' : `${items.length} asset${items.length === 1 ? '' : 's'} on this page${page.data?.next_cursor ? ', more on the next' : ''}`}
      </p>
      {page.data &&
        (items.length === 0 ? (
          <p>No assets match.</p>
        ) : q.view === 'table' ? (
          <AssetTable assets={items} showOwner={session.isAdmin || items.some((a) => a.owner_id !== session.sub)} />
        ) : (
          <AssetGrid assets={items} />
        ))}
      <div class="actions" role="group" aria-label="Pages">
        <button type="button" disabled={!q.cursor} onClick={() => go({ cursor: '' })}>
          First page
        </button>
        <button type="button" disabled={!page.data?.next_cursor} onClick={() => go({ cursor: page.data?.next_cursor ?? '' })}>
          Next page
        </button>
      </div>
    </section>
  );
}

function Filters(props: { query: ListQuery; isAdmin: boolean; onApply(next: Pick<ListQuery, 'name' | 'tag' | 'type' | 'owner'>): void }) {
  const [name, setName] = useState(props.query.name);
  const [tag, setTag] = useState(props.query.tag);
  const [type, setType] = useState(props.query.type);
  const [owner, setOwner] = useState(props.query.owner);
  const submit = (event: Event) => {
    event.preventDefault();
    props.onApply({ name: name.trim(), tag: tag.trim(), type: type.trim(), owner: owner.trim() });
  };
  const clear = () => {
    setName('');
    setTag('');
    setType('');
    setOwner('');
    props.onApply({ name: '', tag: '', type: '', owner: '' });
  };
  return (
    <form class="filters" role="search" aria-label="Filter assets" onSubmit={submit}>
      <div>
        <label for="asset-filter-name">Name starts with</label>
        <input id="asset-filter-name" type="search" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </div>
      <div>
        <label for="asset-filter-tag">Tag</label>
        <input id="asset-filter-tag" type="search" value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
      </div>
      <div>
        <label for="asset-filter-type">Content type</label>
        <input
          id="asset-filter-type"
          type="search"
          list="asset-type-suggestions"
          placeholder="image/*"
          value={type}
          onInput={(e) => setType(e.currentTarget.value)}
        />
        <datalist id="asset-type-suggestions">
          {TYPE_SUGGESTIONS.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
      </div>
      {props.isAdmin && (
        <div>
          <label for="asset-filter-owner">Owner</label>
          <input id="asset-filter-owner" type="search" value={owner} onInput={(e) => setOwner(e.currentTarget.value)} />
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary">
          Search
        </button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}
