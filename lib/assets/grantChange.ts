/** A change of an asset's grants, which ends the upload sessions whose write basis it removes (lib/uploads/sessionAccess.ts). */
import type { Knex } from 'knex';
import type { AuditTrail } from '../audit/log';
import { recordEvent } from '../events/outbox';
import { NotFoundError } from '../platform/errors';
import { endRevokedSessions, type EndedSession } from '../uploads/sessionAccess';
import { writeGrants, type Grant } from './grants';

/**
 * PUT /assets/{id}/grants: a full replace of a live asset's grants, with its event. The grants are
 * fields of the asset, so its revision (its ETag) moves. The upload sessions whose write basis the
 * change removes end with it (issue 23): answered, for the caller to tell their runs.
 */
export async function replaceGrants(db: Knex, assetId: string, grants: Grant[], audit: AuditTrail): Promise<EndedSession[]> {
  return db.transaction(async (trx) => {
    const [updated] = await trx('assets')
      .where({ id: assetId, is_deleted: false })
      .update({ revision: trx.raw('revision + 1') })
      .returning('owner_id');
    if (!updated) throw new NotFoundError(`asset ${assetId} not found`);
    await writeGrants(trx, assetId, grants);
    const ended = await endRevokedSessions(trx, { id: assetId, owner_id: updated.owner_id }, grants);
    await recordEvent(trx, 'storage.asset.updated', assetId, { asset_id: assetId, changed: ['grants'] });
    await audit.record(trx);
    return ended;
  });
}
