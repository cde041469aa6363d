/** Lifecycle runs: the list, starting one now (a dry run unless unticked), and a run's counts and what it would remove. */
import { useState } from 'preact/hooks';
import { unwrap, type components } from '../../api';
import { formatBytes, formatTime } from '../../components/format';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { TableScroll } from './TableScroll';
import { Pager, useCursor } from './paging';
import { isFinal, usePolled } from './polling';
import { RunItems } from './RunItems';
import { Status } from './Status';

type Policy = components['schemas']['Policy'];

function RunDetail(props: { id: string; onEnd(): void }) {
  const { api } = useConsole();
  const run = usePolled(
    async (signal) => unwrap(api.GET('/api/v2/lifecycle/runs/{id}', { params: { path: { id: props.id } }, signal })),
    (r) => {
      const final = isFinal(r.status);
      if (final) props.onEnd();
      return final;
    },
    [props.id],
  );
  const r = run.data;
  return (
    <section aria-label={`Run ${props.id}`}>
      <h3>
        Run <code>{props.id}</code>
      </h3>
      {run.error !== undefined && <ProblemNotice error={run.error} />}
      {r && (
        <>
          <p role="status">
            <Status status={r.status} /> {r.dry_run ? 'Dry run: nothing removed; the counts are what it would do.' : ''} Phase {r.phase}.
            {run.gaveUp && ' Still running: reload the page to follow it.'}
            {r.error && ` ${r.error}`}
          </p>
          <dl class="facts">
            <dt>Run</dt>
            <dd>
              <RunLink workflowId={r.workflow_id} />
            </dd>
            <dt>Versions expired</dt>
            <dd>{r.counts.versions_expired}</dd>
            <dt>Assets expired</dt>
            <dd>{r.counts.assets_expired}</dd>
            <dt>Assets purged</dt>
            <dd>{r.counts.assets_purged}</dd>
            <dt>Uploads aborted</dt>
            <dd>{r.counts.uploads_aborted}</dd>
            <dt>Bytes freed</dt>
            <dd>{formatBytes(r.counts.bytes_freed)}</dd>
          </dl>
          {r.dry_run ? (
            <>
              <h4>What it would remove</h4>
              <RunItems runId={r.id} reloadKey={r.status} />
            </>
          ) : (
            <p class="muted">A real run lists its removals in the audit log.</p>
          )}
        </>
      )}
    </section>
  );
}

function StartRun(props: { policies: Policy[]; onStarted(id: string): void }) {
  const { api } = useConsole();
  const [policyId, setPolicyId] = useState('');
  const [dryRun, setDryRun] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const start = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const run = await unwrap(api.POST('/api/v2/lifecycle/runs', { body: { policy_id: policyId || undefined, dry_run: dryRun } }));
      props.onStarted(run.id);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={start} aria-labelledby="start-run">
      <h3 id="start-run">Start a run</h3>
      <label for="run-policy">Policy</label>
      <select id="run-policy" value={policyId} onChange={(e) => setPolicyId(e.currentTarget.value)}>
        <option value="">Every enabled policy and the global settings</option>
        {props.policies.map((p) => (
          <option key={p.id} value={p.id}>
            {p.name}
          </option>
        ))}
      </select>
      <label>
        <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run (remove nothing, list what would go)
      </label>
      {!dryRun && <p class="notice notice-warning">Unticked: this run removes what the policies say, for good where they purge.</p>}
      <div class="actions">
        <button type="submit" class={dryRun ? 'primary' : 'danger primary'} disabled={busy}>
          {dryRun ? 'Start dry run' : 'Start run'}
        </button>
      </div>
      {error !== null && <ProblemNotice error={error} title="The run was not started" />}
    </form>
  );
}

export function RunsSection(props: { policies: Policy[] }) {
  const { api } = useConsole();
  const at = useCursor();
  const [shown, setShown] = useState<string | null>(null);
  const runs = useResource(
    async (signal) => unwrap(api.GET('/api/v2/lifecycle/runs', { params: { query: { cursor: at.cursor, limit: 25 } }, signal })),
    [at.cursor],
  );
  const policyName = (id: string | null) => (id ? (props.policies.find((p) => p.id === id)?.name ?? id) : 'every policy');
  return (
    <section aria-labelledby="runs-heading">
      <h2 id="runs-heading">Runs</h2>
      <StartRun
        policies={props.policies}
        onStarted={(id) => {
          setShown(id);
          at.first();
          runs.reload();
        }}
      />
      {shown && <RunDetail id={shown} key={shown} onEnd={runs.reload} />}
      <h3>All runs</h3>
      {runs.error !== undefined && <ProblemNotice error={runs.error} />}
      {runs.data && runs.data.items.length === 0 && <p class="muted">No runs yet.</p>}
      {runs.data && runs.data.items.length > 0 && (
        <TableScroll label="Lifecycle runs, newest first">
          <table>
            <caption class="visually-hidden">Lifecycle runs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Policy</th>
                <th scope="col">Status</th>
                <th scope="col">Kind</th>
                <th scope="col" class="number">
                  Frees
                </th>
                <th scope="col">Run</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {runs.data.items.map((r) => (
                <tr key={r.id}>
                  <th scope="row">{formatTime(r.created_at)}</th>
                  <td>{policyName(r.policy_id)}</td>
                  <td>
                    <Status status={r.status} />
                  </td>
                  <td>
                    {r.dry_run ? 'dry run' : 'real'}, {r.trigger}
                  </td>
                  <td class="number">{formatBytes(r.counts.bytes_freed)}</td>
                  <td>
                    <RunLink workflowId={r.workflow_id} />
                  </td>
                  <td>
                    <button type="button" onClick={() => setShown(r.id)} aria-label={`Show run ${r.id}`} aria-pressed={shown === r.id}>
                      Show
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={runs.data?.next_cursor} label="runs" />
    </section>
  );
}
