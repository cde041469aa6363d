import { useConsole } from '../context';
import { temporalRunUrl } from '../settings';

/** A run's workflow id, linked to its page in the Temporal UI when STORAGE_TEMPORAL_UI_URL is set. */
export function RunLink(props: { workflowId: string | null | undefined }) {
  const { settings } = useConsole();
  if (!props.workflowId) return <span class="muted">—</span>;
  const url = temporalRunUrl(settings, props.workflowId);
  if (!url) return <code>{props.workflowId}</code>;
  return (
    <a href={url} target="_blank" rel="noopener noreferrer">
      <code>{props.workflowId}</code>
      <span class="visually-hidden"> (opens the Temporal UI in a new tab)</span>
    </a>
  );
}
