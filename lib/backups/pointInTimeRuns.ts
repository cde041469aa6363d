/** The API's side of a restore to a point in time: its row, then its workflow (restore-{id}); it is read as every restore is (backupRuns.ts readRestore). */
import type { pointInTimeRestoreWorkflow } from '../../workflows/backups/pointInTime';
import { restoreOperation, restoreWorkflowId } from '../../workflows/backups/definitions';
import { actorRef, type ActorRef } from '../auth/actor';
import { getRestore } from './catalog';
import type { JobRow } from './jobRows';
import { jobWorkflowOptions, soleAssetOf, startJobWorkflow, type BackupClient } from './backupRuns';
import { insertPointInTimeRestore, type AssetFilter } from './pointInTime';

export interface StartPointInTimeOptions {
  asOf: Date;
  filter: AssetFilter;
  /** A dry run lists what a real one would do, asset by asset, and writes nothing (the API's default). */
  dryRun: boolean;
  historyLimit?: number;
}

export async function startPointInTimeRestore(bc: BackupClient, actor: ActorRef, opts: StartPointInTimeOptions): Promise<JobRow> {
  const id = await insertPointInTimeRestore(bc.db, { asOf: opts.asOf, filter: opts.filter, dryRun: opts.dryRun, actor });
  await startJobWorkflow(bc, id, 'restore', () =>
    bc.client.workflow.start<typeof pointInTimeRestoreWorkflow>('pointInTimeRestoreWorkflow', {
      ...jobWorkflowOptions(bc, restoreWorkflowId(id), restoreOperation, actor, soleAssetOf(opts.filter.asset_ids)),
      args: [{ restoreId: id, actor: actorRef(actor), ...(opts.historyLimit ? { historyLimit: opts.historyLimit } : {}) }],
    }),
  );
  return getRestore(bc.db, id);
}
