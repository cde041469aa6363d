/** What the caller stores against their quota; an admin is pointed to the quotas of every owner. */
import { unwrap } from '../../api';
import { formatBytes } from '../../components/format';
import { Link } from '../../components/Link';
import { ProblemNotice } from '../../components/ProblemNotice';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { ADMIN_VIEWS } from '../admin/routes';
import { UsageFigures } from './usage';

export function UsageView() {
  const { api, session } = useConsole();
  const usage = useResource(() => unwrap(api.GET('/api/v2/usage')), []);
  return (
    <section>
      <h1 tabIndex={-1}>Usage</h1>
      {usage.error !== undefined && <ProblemNotice error={usage.error} title="Your usage cannot be read" />}
      {usage.loading && !usage.data && <p role="status">Loading…</p>}
      {usage.data && (
        <>
          <p>
            What <strong>{usage.data.owner_id}</strong> stores, against the quota in force.
          </p>
          <UsageFigures usage={usage.data} idPrefix="usage" />
          <h2>Details</h2>
          <dl class="facts">
            <dt>Stored</dt>
            <dd>
              {formatBytes(usage.data.bytes_stored)} ({usage.data.bytes_stored.toLocaleString()} bytes), every version counted, and soft-deleted assets until
              they are deleted for good (<Link to="/trash">the trash</Link>)
            </dd>
            <dt>Held by uploads under way</dt>
            <dd>{formatBytes(usage.data.reserved_bytes)}</dd>
            <dt>Assets</dt>
            <dd>{usage.data.assets.toLocaleString()}</dd>
            <dt>Versions</dt>
            <dd>{usage.data.versions.toLocaleString()}</dd>
          </dl>
          <div class="actions">
            <button type="button" onClick={usage.reload}>
              Refresh
            </button>
          </div>
        </>
      )}
      {session.isAdmin && <AdminNote />}
    </section>
  );
}

/** Where an admin sets each owner's quota: the admin's quotas view when the console has one, else the API. */
function AdminNote() {
  const quotas = ADMIN_VIEWS.find((view) => view.path.includes('quota'));
  return (
    <p class="notice">
      This is your own usage. As an admin you read and set every owner's quota{' '}
      {quotas ? (
        <>
          in <Link to={quotas.path}>{quotas.nav ?? quotas.title}</Link>
        </>
      ) : (
        <>
          through the API: <code>GET /api/v2/usage?owner_id=…</code> and <code>PUT /api/v2/quotas/&#123;owner_id&#125;</code>
        </>
      )}
      .
    </p>
  );
}
