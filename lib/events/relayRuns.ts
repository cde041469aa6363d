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

/** The listener's reconnection: its first wait, and the longest (the relay's idle pass covers the gap). */
const RECONNECT_FIRST_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * Listens for the database's notification that a transaction wrote events and wakes the relay
 * (starting it if it is not running). Bursts of commits are folded into one signal. A connection that
 * drops (PostgreSQL restarted, the backend terminated) is made again, with a backoff up to
 * RECONNECT_MAX_MS, for as long as the listener is not stopped; once back it wakes the relay, for the
 * commits whose notification it missed. The first connection's failure is the caller's.
 */
export async function listenForOutboxCommits(databaseUrl: string, client: Client, taskQueue: string, logger: Logger): Promise<() => Promise<void>> {
  let pending: NodeJS.Timeout | undefined;
  const wake = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      client.workflow
        .signalWithStart<typeof outboxRelayWorkflow, []>('outboxRelayWorkflow', { ...relayStart(taskQueue), signal: wakeSignal, signalArgs: [] })
        .catch((err) => logger.warn('could not wake the outbox relay', { err }));
    }, 50);
  };
  const listener = new OutboxListener(databaseUrl, wake, logger);
  await listener.connect();
  return async () => {
    clearTimeout(pending);
    await listener.stop();
  };
}

/** One LISTEN connection at a time, made again whenever the current one ends, until stopped. */
class OutboxListener {
  private current: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly wake: () => void,
    private readonly logger: Logger,
  ) {}

  async connect(): Promise<void> {
    // TCP keepalive: a peer that vanished without closing (a network cut) ends the connection too.
    const connection = new pg.Client({ connectionString: this.databaseUrl, application_name: 'storage-outbox-listener', keepAlive: true });
    connection.on('notification', this.wake);
    // An error is followed by 'end', which reconnects.
    connection.on('error', (err) => this.logger.warn('outbox listener connection failed', { err }));
    connection.on('end', () => {
      if (this.current !== connection || this.stopped) return;
      this.current = undefined;
      this.reconnect(RECONNECT_FIRST_MS);
    });
    try {
      await connection.connect();
      await connection.query('LISTEN storage_outbox');
    } catch (err) {
      await connection.end().catch(() => {});
      throw err;
    }
    // Stopped while it connected: nobody will end it later.
    if (this.stopped) await connection.end();
    else this.current = connection;
  }

  private reconnect(delayMs: number): void {
    this.retry = setTimeout(() => {
      if (this.stopped) return;
      this.connect().then(
        () => {
          this.logger.info('outbox listener reconnected');
          this.wake();
        },
        (err) => {
          this.logger.warn('outbox listener could not reconnect', { err, retry_in_ms: Math.min(delayMs * 2, RECONNECT_MAX_MS) });
          this.reconnect(Math.min(delayMs * 2, RECONNECT_MAX_MS));
        },
      );
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const connection = this.current;
    this.current = undefined;
    await connection?.end();
  }
}
