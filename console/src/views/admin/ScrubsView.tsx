/** Scrubs: the list, starting one (one at a time; a dry run changes nothing), and a scrub's findings. */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { unwrap } from '../../api';
import { formatBytes, formatTime } from '../../components/format';
import { Pager, useCursor } from '../../components/paging';
import { ProblemNotice } from '../../components/ProblemNotice';
import { RunLink } from '../../components/RunLink';
import { TableScroll } from '../../components/TableScroll';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { useFollowedRun } from './polling';
import { RunFacts, RunStatus } from './RunStatus';
import { Status } from './Status';

function Findings(props: { scrubId: string; status: string }) {
  const { api } = useConsole();
  const at = useCursor();
  const findings = useResource(
    async (signal) =>
      unwrap(api.GET('/api/v2/scrubs/{id}/findings', { params: { path: { id: props.scrubId }, query: { cursor: at.cursor, limit: 50 } }, signal })),
    [props.scrubId, props.status, at.cursor],
  );
  if (findings.error !== undefined) return <ProblemNotice error={findings.error} />;
  if (!findings.data) return <p class="muted">Loading the findings…</p>;
  if (findings.data.items.length === 0) return <p class="muted">No findings.</p>;
  return (
    <>
      <TableScroll label="The scrub's findings">
        <table>
          <caption class="visually-hidden">The scrub's findings</caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Subject</th>
              <th scope="col">Outcome</th>
              <th scope="col">Detail</th>
              <th scope="col">Found</th>
            </tr>
          </thead>
          <tbody>
            {findings.data.items.map((f) => (
              <tr key={`${f.kind}-${f.subject}`}>
                <th scope="row">{f.kind}</th>
                <td>
                  <code>{f.subject}</code>
                </td>
                <td>{f.outcome ?? 'dry run: none'}</td>
                <td>{f.detail ?? ''}</td>
                <td>{formatTime(f.found_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableScroll>
      <Pager at={at} nextCursor={findings.data.next_cursor} label="findings" />
    </>
  );
}

function ScrubDetail(props: { id: string; onEnd(): void }) {
  const { api } = useConsole();
  const scrub = useFollowedRun(async (signal) => unwrap(api.GET('/api/v2/scrubs/{id}', { params: { path: { id: props.id } }, signal })), props.id, props.onEnd);
  const s = scrub.data;
  return (
    <section aria-label={`Scrub ${props.id}`}>
      <h2>
        Scrub <code>{props.id}</code>
      </h2>
      {scrub.error !== undefined && <ProblemNotice error={scrub.error} />}
      {s && (
        <>
          <RunStatus status={s.status} gaveUp={scrub.gaveUp} error={s.error}>
            Phase {s.phase}. {s.findings} finding(s): {s.repaired} repaired, {s.unrepairable} unrepairable.
            {s.dry_run && ' Dry run: nothing changed.'}
          </RunStatus>
          <RunFacts workflowId={s.workflow_id}>
            <dt>Sample</dt>
            <dd>{s.sample_percent} % of the objects re-read</dd>
            <dt>Listed</dt>
            <dd>{s.objects_listed} object(s)</dd>
            <dt>Hashed</dt>
            <dd>{formatBytes(s.bytes_hashed)}</dd>
            {Object.entries(s.counts).map(([kind, n]) => (
              <Fragment key={kind}>
                <dt>{kind.replace(/_/g, ' ')}</dt>
                <dd>{n}</dd>
              </Fragment>
            ))}
          </RunFacts>
          <h3>Findings</h3>
          <Findings scrubId={s.id} status={s.status} />
        </>
      )}
    </section>
  );
}

export function ScrubsView() {
  const { api } = useConsole();
  const at = useCursor();
  const [shown, setShown] = useState<string | null>(null);
  const [dryRun, setDryRun] = useState(false);
  const [sample, setSample] = useState('');
  const [error, setError] = useState<unknown>(null);
  const scrubs = useResource(async (signal) => unwrap(api.GET('/api/v2/scrubs', { params: { query: { cursor: at.cursor, limit: 25 } }, signal })), [at.cursor]);
  // A second click while a start is in flight would be a second start (each call has its own Idempotency-Key).
  const [busy, setBusy] = useState(false);
  const start = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { dry_run: dryRun, sample_percent: sample.trim() === '' ? undefined : Number(sample) };
      const scrub = await unwrap(api.POST('/api/v2/scrubs', { body }));
      setShown(scrub.id);
      at.first();
      scrubs.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h1 tabIndex={-1}>Scrubs</h1>
      <form onSubmit={start} aria-labelledby="start-scrub" noValidate>
        <h2 id="start-scrub">Start a scrub</h2>
        <p class="muted">Reconciles the asset bucket with the catalog, repairs from backups, checks the backup bucket. One runs at a time.</p>
        <label for="scrub-sample">Share of objects to re-read, in % (optional)</label>
        <input
          id="scrub-sample"
          type="number"
          inputMode="decimal"
          min={0}
          max={100}
          step="any"
          value={sample}
          onInput={(e) => setSample(e.currentTarget.value)}
        />
        <label>
          <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.currentTarget.checked)} /> Dry run (count what it finds, change nothing)
        </label>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Start scrub
          </button>
        </div>
        {error !== null && <ProblemNotice error={error} title="The scrub was not started" />}
      </form>
      {shown && <ScrubDetail id={shown} key={shown} onEnd={scrubs.reload} />}
      <h2>Scrubs</h2>
      {scrubs.error !== undefined && <ProblemNotice error={scrubs.error} />}
      {scrubs.data && scrubs.data.items.length === 0 && <p class="muted">No scrubs yet.</p>}
      {scrubs.data && scrubs.data.items.length > 0 && (
        <TableScroll label="Scrubs, newest first">
          <table>
            <caption class="visually-hidden">Scrubs, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Status</th>
                <th scope="col" class="number">
                  Findings
                </th>
                <th scope="col">Kind</th>
                <th scope="col">Run</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {scrubs.data.items.map((s) => (
                <tr key={s.id}>
                  <th scope="row">{formatTime(s.created_at)}</th>
                  <td>
                    <Status status={s.status} />
                  </td>
                  <td class="number">{s.findings}</td>
                  <td>
                    {s.dry_run ? 'dry run' : 'repairing'}, {s.trigger}
                  </td>
                  <td>
                    <RunLink workflowId={s.workflow_id} />
                  </td>
                  <td>
                    <button type="button" onClick={() => setShown(s.id)} aria-label={`Show scrub ${s.id}`} aria-pressed={shown === s.id}>
                      Show
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <Pager at={at} nextCursor={scrubs.data?.next_cursor} label="scrubs" />
    </section>
  );
}
