import type { ConsoleSettings } from '../../api/http/consoleSettings';

export type { ConsoleSettings };

/** The settings the page carries in `<meta name="storage-console">` (no inline script: the CSP allows none). */
export function readSettings(): ConsoleSettings {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="storage-console"]');
  const defaults: ConsoleSettings = {
    environment: 'production',
    temporalUiUrl: null,
    temporalNamespace: 'default',
    embeddingOrigins: [],
    rolesClaim: 'roles',
    groupsClaim: 'groups',
  };
  try {
    return { ...defaults, ...(JSON.parse(meta?.content ?? '{}') as Partial<ConsoleSettings>) };
  } catch {
    return defaults;
  }
}

/** A run's page in the Temporal UI, or null when STORAGE_TEMPORAL_UI_URL is unset. */
export function temporalRunUrl(settings: ConsoleSettings, workflowId: string): string | null {
  if (!settings.temporalUiUrl) return null;
  return `${settings.temporalUiUrl}/namespaces/${encodeURIComponent(settings.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
