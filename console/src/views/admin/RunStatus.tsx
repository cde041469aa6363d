/** What every followed run shows: its status said live, and its facts led by its Temporal run. */
import type { ComponentChildren } from 'preact';
import { RunLink } from '../../components/RunLink';
import { Status } from './Status';

/** The status line: `children` say where the run is; a run still going when the polling gave up says so. */
export function RunStatus(props: { status: string; gaveUp: boolean; error?: string | null; children?: ComponentChildren }) {
  return (
    <p role="status">
      <Status status={props.status} /> {props.children}
      {props.gaveUp && ' Still running: reload the page to follow it.'}
      {props.error && ` ${props.error}`}
    </p>
  );
}

/** The run's facts: its Temporal run first, then `children` (dt/dd pairs). */
export function RunFacts(props: { workflowId: string | null | undefined; children?: ComponentChildren }) {
  return (
    <dl class="facts">
      <dt>Run</dt>
      <dd>
        <RunLink workflowId={props.workflowId} />
      </dd>
      {props.children}
    </dl>
  );
}
