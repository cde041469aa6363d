/** Lifecycle: the policies and the runs that apply them (a run's policy is picked from the same list). */
import { unwrap } from '../../api';
import { useResource } from '../../components/useResource';
import { useConsole } from '../../context';
import { useCursor } from './paging';
import { PoliciesSection } from './PoliciesSection';
import { RunsSection } from './RunsSection';

export function LifecycleView() {
  const { api } = useConsole();
  const at = useCursor();
  const policies = useResource(
    async (signal) => unwrap(api.GET('/api/v2/policies', { params: { query: { cursor: at.cursor, limit: 100 } }, signal })),
    [at.cursor],
  );
  return (
    <section>
      <h1 tabIndex={-1}>Lifecycle</h1>
      <p class="muted">Policies say what goes and when; a run applies them. Start with a dry run to see what a run would remove.</p>
      <PoliciesSection policies={policies} at={at} />
      <RunsSection policies={policies.data?.items ?? []} />
    </section>
  );
}
