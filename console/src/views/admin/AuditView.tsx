/** The audit log, newest first: its filters (who, what, which subject, outcome, request, when), a page at a time. */
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatTime } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';

const FIELDS = [
  { name: 'actor', label: 'Actor', hint: 'a user, or system' },
  { name: 'action', label: 'Action', hint: 'backup.create' },
  { name: 'subject', label: 'Subject id', hint: 'an asset, backup, policy… id' },
  { name: 'outcome', label: 'Outcome', hint: '403, or completed' },
  { name: 'request_id', label: 'Request or run id', hint: '' },
] as const;

// The subjects that have a page in the console link to it.
const PAGES: Record<string, (id: string) => string> = { backup_id: (id) => `/admin/backups/${id}`, asset_id: (id) => `/assets/${id}` };

function SubjectLink(props: { kind: string; id: string }) {
  const page = PAGES[props.kind];
  return page ? (
    <Link to={page(props.id)}>
      <code>{props.id}</code>
    </Link>
  ) : (
    <code>{props.id}</code>
  );
}

type Filters = Partial<Record<(typeof FIELDS)[number]['name'] | 'created_after' | 'created_before', string>>;

// A datetime-local field has no zone: it is the browser's, sent as UTC.
const isoOf = (local: string | undefined) => (local ? new Date(local).toISOString() : undefined);

export function AuditView() {
  const { api } = useConsole();
  const at = useCursor();
  const [draft, setDraft] = useState<Filters>({});
  const [applied, setApplied] = useState<Filters>({});
  const rows = useResource(
    async (signal) => {
      const query = Object.fromEntries(Object.entries(applied).filter(([, v]) => v && v.trim() !== ''));
      return unwrap(
        api.GET('/api/v2/audit', {
          params: {
            query: { ...query, created_after: isoOf(applied.created_after), created_before: isoOf(applied.created_before), cursor: at.cursor, limit: 50 },
          },
          signal,
        }),
      );
    },
    [JSON.stringify(applied), at.cursor],
  );
  const field = (name: keyof Filters) => ({
    id: `audit-${name}`,
    value: draft[name] ?? '',
    onInput: (e: Event) => setDraft({ ...draft, [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  return (
    <section>
      <h1 tabIndex={-1}>Audit log</h1>
      <form
        class="filters"
        aria-label="Audit log filters"
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ ...draft });
          at.first();
        }}
      >
        {FIELDS.map((f) => (
          <span key={f.name}>
            <label for={`audit-${f.name}`}>{f.label}</label>
            <input {...field(f.name)} placeholder={f.hint} />
          </span>
        ))}
        <span>
          <label for="audit-created_after">After</label>
          <input type="datetime-local" step="1" {...field('created_after')} />
        </span>
        <span>
          <label for="audit-created_before">Before</label>
          <input type="datetime-local" step="1" {...field('created_before')} />
        </span>
        <span class="actions">
          <button type="submit" class="primary">
            Apply filters
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft({});
              setApplied({});
              at.first();
            }}
          >
            Clear
          </button>
        </span>
      </form>
      {rows.error !== undefined && <ProblemNotice error={rows.error} title="The audit log cannot be read with these filters" />}
      <p role="status" class="muted">
        {rows.loading ? 'Loading…' : rows.data ? `Showing ${rows.data.items.length} row(s)${rows.data.next_cursor ? ', more on the next page' : ''}.` : ''}
      </p>
      {rows.data && (
        <TableScroll label="The audit log, newest first">
          <table>
            <caption class="visually-hidden">The audit log, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Subjects</th>
                <th scope="col">Outcome</th>
                <th scope="col" class="number">
                  Count
                </th>
                <th scope="col">Request</th>
                <th scope="col">Client</th>
              </tr>
            </thead>
            <tbody>
              {rows.data.items.map((row) => (
                <tr key={row.id}>
                  <th scope="row">
                    <time dateTime={row.at}>{formatTime(row.at)}</time>
                  </th>
                  <td>{row.actor?.sub ?? <span class="muted">no verified token</span>}</td>
                  <td>
                    <code>{row.action}</code>
                  </td>
                  <td>
                    {Object.entries(row.subjects).map(([kind, id]) => (
                      <div key={kind}>
                        {kind.replace(/_id$/, '')} <SubjectLink kind={kind} id={id} />
                      </div>
                    ))}
                  </td>
                  <td>{row.outcome}</td>
                  <td class="number">{row.count}</td>
                  <td>{row.request_id ? <code>{row.request_id}</code> : '—'}</td>
                  <td>{row.client_address ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={rows.data?.next_cursor} label="audit log" />
    </section>
  );
}
