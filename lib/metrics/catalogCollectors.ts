/**
 * The catalog gauges' collectors (lib/platform/metrics.ts), each read from the store that owns its
 * tables: what the composition root hands createMetrics.
 */
import type { Knex } from 'knex';
import { countAssetsByState } from '../assets/store';
import { countJobsByKindAndStatus } from '../backups/store';
import { countOutboxBacklog } from '../events/store';
import { countRunsByStatus } from '../lifecycle/store';
import type { CatalogCollectors } from '../platform/metrics';
import { topOwnersByBytes } from '../quotas/store';
import { countSessionsByStatus } from '../uploads/store';
import { secondsSinceOldestVerification, sumScrubFindings } from '../scrub/store';

/** Uploads, then backups and restores (their kind is the operation), then lifecycle runs. */
async function operationsByStatus(db: Knex): Promise<Array<{ operation: string; status: string; n: number }>> {
  const uploads = await countSessionsByStatus(db);
  const jobs = await countJobsByKindAndStatus(db);
  const runs = await countRunsByStatus(db);
  return [
    ...uploads.map(({ status, n }) => ({ operation: 'upload', status, n })),
    ...jobs.map(({ kind, status, n }) => ({ operation: kind, status, n })),
    ...runs.map(({ status, n }) => ({ operation: 'lifecycle', status, n })),
  ];
}

export function catalogCollectorsOf(db: Knex): CatalogCollectors {
  return {
    assetsByState: () => countAssetsByState(db),
    operations: () => operationsByStatus(db),
    outboxBacklog: () => countOutboxBacklog(db),
    topOwnersByBytes: (n) => topOwnersByBytes(db, n),
    scrubFigures: async () => ({ findings: await sumScrubFindings(db), secondsSinceCompletePass: await secondsSinceOldestVerification(db) }),
  };
}
