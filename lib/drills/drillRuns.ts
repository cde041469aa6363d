/**
 * The API's side of restore drills: start one (its row, naming its backup, then restore-drill-{id}),
 * read one, list them. The row is the drill's truth: its steps write it as they go, and its end
 * (passed or failed) is written by its last step.
 */
import type { Knex } from 'knex';
import { ConflictError } from '../platform/errors';
import { decodeCursor, pageOf, type Page } from '../platform/pagination';
import { UUID_PATTERN, uuidv7 } from '../platform/ids';
import { runSearchAttributes, type WorkflowAccess } from '../platform/temporal';
import { actorRef, type ActorRef } from '../auth/actor';
import { restoreDrillOperation, restoreDrillWorkflowId } from '../../workflows/drills/definitions';
import type { restoreDrillWorkflow } from '../../workflows/drills/drill';
import { drillableBackup, endDrill, getDrill, toDrillJson, type DrillJson } from './drills';
import { insertDrillRow, listDrillRows, type DrillRow, type DrillStatus } from './store';
import { auditWriterOf } from '../audit/log';

/**
 * Writes the drill's row (naming the backup given, else the newest completed one: 409 when there is
 * none, 404 or 409 for a given one that is unknown or not completed and kept), then starts its run.
 */
export async function startDrill(wa: WorkflowAccess, actor: ActorRef, opts: { backupId?: string } = {}): Promise<DrillRow> {
  const backup = await drillableBackup(wa.db, opts.backupId ?? null);
  if (!backup) throw new ConflictError('there is no completed backup to drill: take a backup first');
  const id = uuidv7();
  const workflowId = restoreDrillWorkflowId(id);
  await insertDrillRow(wa.db, { id, backup_id: backup.id, trigger: 'api', actor: actorRef(actor), workflow_id: workflowId });
  try {
    await wa.client.workflow.start<typeof restoreDrillWorkflow>('restoreDrillWorkflow', {
      workflowId,
      taskQueue: wa.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: runSearchAttributes({ operation: restoreDrillOperation, actor }),
      args: [{ drillId: id, actor: actorRef(actor) }],
    });
  } catch (err) {
    // Not left pending: a drill that never ran is failed (its event says so).
    await endDrill(wa.db, auditWriterOf(false), id, `the drill could not be started: ${err instanceof Error ? err.message : String(err)}`).catch(() => {});
    throw err;
  }
  return getDrill(wa.db, id);
}

export async function readDrill(db: Knex, id: string): Promise<DrillJson> {
  return toDrillJson(await getDrill(db, id));
}

export async function listDrills(db: Knex, q: { limit: number; cursor?: string; backup_id?: string; status?: DrillStatus }): Promise<Page<DrillJson>> {
  const cursor = decodeCursor(q.cursor, (p): p is { id: string } => typeof p.id === 'string' && UUID_PATTERN.test(p.id));
  const rows = await listDrillRows(db, { limit: q.limit + 1, beforeId: cursor?.id, backupId: q.backup_id, status: q.status });
  return pageOf(rows, q.limit, toDrillJson, (row) => ({ id: row.id }));
}
