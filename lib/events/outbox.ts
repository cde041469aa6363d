import type { Knex } from 'knex';
import { uuidv7 } from '../platform/ids';
import { insertOutboxEvent } from './store';

export type StorageEventType =
  | 'storage.asset.created'
  | 'storage.asset.updated'
  | 'storage.asset.deleted'
  | 'storage.version.created'
  | 'storage.backup.completed'
  | 'storage.backup.retention_refused'
  | 'storage.restore_drill.completed'
  | 'storage.version.damaged'
  | 'storage.scrub.completed';

export const EVENT_SOURCE = 'storage-service';

/**
 * Writes a CloudEvent into the outbox. Always called with the transaction that makes the change,
 * so the event exists exactly when the change does.
 */
export async function recordEvent(trx: Knex.Transaction, type: StorageEventType, subject: string, data: Record<string, unknown>) {
  await insertOutboxEvent(trx, { id: uuidv7(), type, source: EVENT_SOURCE, subject, data });
}
