import { Client, Connection, type OperatorService } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } from '@temporalio/common';
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
 * A lazily connected client: the API starts even while Temporal is down (and reports it as not
 * ready) instead of failing at boot.
 */
export function createTemporalClient(t: Config['temporal']): TemporalHandle {
  const retries = stoppableRetries();
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
