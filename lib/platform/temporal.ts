import { Client, Connection, type OperatorService } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import type { Knex } from 'knex';
import type { Config } from './config';
import { stoppableRetries } from './grpcRetries';

/** Set on every run so operators can filter runs in the Temporal UI. */
export const AssetIdAttribute = defineSearchAttributeKey('AssetId', SearchAttributeType.KEYWORD);
export const StorageOperationAttribute = defineSearchAttributeKey('StorageOperation', SearchAttributeType.KEYWORD);
/** The subject the run acts for: the request's caller, or `system` for what schedules start. */
export const StorageActorAttribute = defineSearchAttributeKey('StorageActor', SearchAttributeType.KEYWORD);
export const SEARCH_ATTRIBUTES = [AssetIdAttribute, StorageOperationAttribute, StorageActorAttribute];

export interface RunAttributes {
  operation: string;
  actor: { sub: string };
  /** The asset the run is about, when it is about one. */
  assetId?: string;
}

/** The search attributes a client sets on a run it starts. */
export function runSearchAttributes({ operation, actor, assetId }: RunAttributes): TypedSearchAttributes {
  return new TypedSearchAttributes([
    ...(assetId === undefined ? [] : [{ key: AssetIdAttribute, value: assetId }]),
    { key: StorageOperationAttribute, value: operation },
    { key: StorageActorAttribute, value: actor.sub },
  ]);
}

/** What starts and asks this service's workflows: the client, the task queue, and the catalog beside them. */
export interface WorkflowAccess {
  client: Client;
  taskQueue: string;
  db: Knex;
}

export interface TemporalHandle {
  connection: Connection;
  client: Client;
  /**
   * A connection without the SDK's retry interceptor, for health probes: a probe wants the answer of
   * now, and the interceptor's retry timers outlive both the probe and a closed connection.
   */
  probe: Connection;
  close(): Promise<void>;
}

/**
 * How long a call keeps retrying a Temporal that cannot be reached (UNAVAILABLE): a request that needs
 * Temporal during an outage is answered 503 within about this (docs/operations.md, "Retry bounds"), rather than
 * after the SDK's 20 s. A restart of the server takes about as long.
 */
export const TEMPORAL_RETRY_BUDGET_MS = 3_000;

/**
 * A lazily connected client: the API starts even while Temporal is down (and reports it as not
 * ready) instead of failing at boot.
 */
export function createTemporalClient(t: Config['temporal']): TemporalHandle {
  const retries = stoppableRetries({ budgetMs: TEMPORAL_RETRY_BUDGET_MS });
  const connection = Connection.lazy({ address: t.address, interceptors: [retries.interceptor] });
  const client = new Client({ connection, namespace: t.namespace });
  const probe = Connection.lazy({ address: t.address, interceptors: [] });
  return {
    connection,
    client,
    probe,
    close: async () => {
      await retries.stop();
      await Promise.all([connection.close(), probe.close()]);
    },
  };
}

/**
 * Registers the service's search attributes when they are missing. The dev server's
 * --search-attribute flag is not applied again to an existing database, so this runs at every start.
 */
export async function ensureSearchAttributes(connection: { operatorService: OperatorService }, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = { ...existing.customAttributes, ...existing.systemAttributes };
  const missing = SEARCH_ATTRIBUTES.filter((key) => !(key.name in known));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
  return missing.map((key) => key.name);
}

// An idle worker's poll waits on the server up to a minute before the next begins, and a busy one
// reaches the root partition (the one described) only now and then: a poller seen this recently
// still polls. (The server forgets pollers after five minutes of silence.)
const POLLER_SEEN_WITHIN_MS = 120_000;
// One DescribeTaskQueue per queue this often at most, however many requests ask meanwhile.
const POLLERS_CACHE_MS = 3_000;
const POLLERS_DEADLINE_MS = 2_000;
const pollersAsked = new WeakMap<Client, Map<string, { askedAt: number; answer: Promise<boolean> }>>();

/**
 * Whether a worker polls the queue for workflow tasks (DescribeTaskQueue's pollers, seen within
 * POLLER_SEEN_WITHIN_MS). A busy worker still polls as its tasks end; a queue nobody polls has no
 * worker at all. Cached for POLLERS_CACHE_MS per client and queue; throws when Temporal does not answer.
 */
export function workflowWorkersPolling({ client, taskQueue }: Pick<WorkflowAccess, 'client' | 'taskQueue'>): Promise<boolean> {
  let asked = pollersAsked.get(client);
  if (!asked) pollersAsked.set(client, (asked = new Map()));
  const cached = asked.get(taskQueue);
  if (cached && Date.now() - cached.askedAt < POLLERS_CACHE_MS) return cached.answer;
  const answer = client.connection
    .withDeadline(Date.now() + POLLERS_DEADLINE_MS, () =>
      client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    )
    .then(({ pollers }) => pollers.some((p) => Date.now() - (optionalTsToMs(p.lastAccessTime) ?? 0) < POLLER_SEEN_WITHIN_MS));
  const entry = { askedAt: Date.now(), answer };
  asked.set(taskQueue, entry);
  // A failed answer is not kept: the next caller asks again.
  answer.catch(() => {
    if (asked.get(taskQueue) === entry) asked.delete(taskQueue);
  });
  return answer;
}
