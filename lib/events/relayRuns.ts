import type { Client } from '@temporalio/client';
import pg from 'pg';
import type { outboxRelayWorkflow } from '../../workflows/events/relay';
import { outboxRelayWorkflowId, relayOperation, wakeSignal } from '../../workflows/events/definitions';
import type { Logger } from '../platform/logger';
import { runSearchAttributes } from '../platform/temporal';
import { SYSTEM_ACTOR } from '../auth/actor';

function relayStart(taskQueue: string) {
  return {
    workflowId: outboxRelayWorkflowId(taskQueue),
    taskQueue,
    // Whoever wakes it, the relay works for the whole deployment.
    typedSearchAttributes: runSearchAttributes({ operation: relayOperation, actor: SYSTEM_ACTOR }),
  };
}

/** Makes sure the relay runs (once per namespace, whoever asks). */
export async function ensureOutboxRelay(client: Client, taskQueue: string): Promise<void> {
  await client.workflow.start<typeof outboxRelayWorkflow>('outboxRelayWorkflow', { ...relayStart(taskQueue), workflowIdConflictPolicy: 'USE_EXISTING' });
}

/**
 * Listens for the database's notification that a transaction wrote events and wakes the relay
 * (starting it if it is not running). Bursts of commits are folded into one signal.
 */
export async function listenForOutboxCommits(databaseUrl: string, client: Client, taskQueue: string, logger: Logger): Promise<() => Promise<void>> {
  const listener = new pg.Client({ connectionString: databaseUrl, application_name: 'storage-outbox-listener' });
  await listener.connect();
  let pending: NodeJS.Timeout | undefined;
  listener.on('notification', () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      client.workflow
        .signalWithStart<typeof outboxRelayWorkflow, []>('outboxRelayWorkflow', { ...relayStart(taskQueue), signal: wakeSignal, signalArgs: [] })
        .catch((err) => logger.warn('could not wake the outbox relay', { err }));
    }, 50);
  });
  listener.on('error', (err) => logger.error('outbox listener failed', { err }));
  await listener.query('LISTEN storage_outbox');
  return async () => {
    clearTimeout(pending);
    await listener.end();
  };
}
