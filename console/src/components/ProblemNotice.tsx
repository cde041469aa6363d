import { StorageProblem } from '../api';

/** What went wrong, as the API said it (problem+json: title, detail, the fields at fault), announced to screen readers. */
export function ProblemNotice(props: { error: unknown; title?: string }) {
  const { error } = props;
  if (error instanceof StorageProblem) {
    return (
      <div class="notice notice-error" role="alert">
        <strong>{props.title ?? error.body.title ?? `Error ${error.status}`}</strong>
        {error.body.detail && <p>{error.body.detail}</p>}
        {error.body.errors && error.body.errors.length > 0 && (
          <ul>
            {error.body.errors.map((e) => (
              <li key={e.path + e.message}>
                <code>{e.path || 'request'}</code>: {e.message}
              </li>
            ))}
          </ul>
        )}
        {error.requestId && <p class="muted">Request id {error.requestId}</p>}
      </div>
    );
  }
  return (
    <div class="notice notice-error" role="alert">
      <strong>{props.title ?? 'Something went wrong'}</strong>
      <p>{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}
