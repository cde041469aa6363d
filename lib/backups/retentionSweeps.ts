/**
 * What a retention sweep finds in the backup bucket before it touches anything, and the record of
 * each sweep (`backup_retention_sweeps`; /health shows the latest).
 *
 * A manifest in the bucket that the catalog does not know is a backup the catalog has lost: it is
 * kept, with every blob it names, and the sweep reports it. When some of those are older than every
 * backup the catalog knows, the catalog itself was lost or made again (its history starts after the
 * bucket's): the sweep refuses to run at all until they are imported (POST /api/v2/backups/import).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { recordEvent } from '../events/outbox';
import { listManifests } from './bucket';
import { endSweepRow, insertSweepRow, knownBackupIds, latestSweepRow, oldestBackupId, refuseSweepRow } from './store';

/** How many unknown backups a sweep names (its result, its event, /health); the count is exact in the reason. */
const NAMED = 100;

export interface BucketCheck {
  /** Newest first. */
  unknownBackups: string[];
  refused: string | null;
}

export async function checkBucketAgainstCatalog(db: Knex, s3: S3Client, backupBucket: string): Promise<BucketCheck> {
  const ids = (await listManifests(s3, backupBucket)).map((m) => m.backupId);
  const known = new Set<string>(await knownBackupIds(db, ids));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length === 0) return { unknownBackups: [], refused: null };
  // Ids are UUID v7: their order is the order in which the backups were taken.
  const oldest = await oldestBackupId(db);
  const before = unknown.filter((id) => oldest === null || id < oldest);
  if (before.length === 0) return { unknownBackups: unknown.slice(0, NAMED), refused: null };
  const since = oldest === null ? 'at all' : `from before its oldest, ${oldest}`;
  const named = before.slice(0, 3).join(', ') + (before.length > 3 ? ', …' : '');
  return {
    unknownBackups: unknown.slice(0, NAMED),
    refused:
      `the catalog knows no backup ${since}, but the backup bucket holds ${before.length} from then (${named}): the catalog was lost or made again. ` +
      'Retention deletes nothing until they are registered: import them first (POST /api/v2/backups/import, or storage backup import)',
  };
}

export async function beginSweepRecord(db: Knex, sweepId: string): Promise<void> {
  await insertSweepRow(db, sweepId);
}

/** The sweep refused: recorded with its storage.backup.retention_refused event, once. */
export async function refuseSweep(db: Knex, sweepId: string, check: BucketCheck & { refused: string }): Promise<void> {
  await db.transaction(async (trx) => {
    const updated = await refuseSweepRow(trx, sweepId, check.refused, check.unknownBackups);
    if (updated === 0) return;
    await recordEvent(trx, 'storage.backup.retention_refused', sweepId, { sweep_id: sweepId, reason: check.refused, unknown_backups: check.unknownBackups });
  });
}

export async function endSweepRecord(db: Knex, sweepId: string, outcome: { status: 'completed' | 'failed'; unknownBackups?: string[]; counts?: object }) {
  await endSweepRow(db, sweepId, outcome.status, outcome.unknownBackups ?? [], outcome.counts);
}

export interface RetentionHealth {
  status: 'ok' | 'refused';
  sweep_id: string;
  finished_at: string;
  reason?: string;
  unknown_backups: string[];
}

/** The latest finished sweep (a failed one says nothing about the bucket), for /health; undefined before the first. */
export async function retentionHealth(db: Knex): Promise<RetentionHealth | undefined> {
  const row = await latestSweepRow(db);
  if (!row) return undefined;
  return {
    status: row.status === 'refused' ? 'refused' : 'ok',
    sweep_id: row.sweep_id,
    finished_at: row.finished_at.toISOString(),
    ...(row.reason ? { reason: row.reason } : {}),
    unknown_backups: row.unknown_backups,
  };
}
