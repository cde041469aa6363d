/** A change of an asset's grants, which ends the upload sessions whose write basis it removes (lib/uploads/sessionAccess.ts). */
import type { Knex } from 'knex';
import type { AuditTrail } from '../audit/log';
import { recordEvent } from '../events/outbox';
import { NotFoundError } from '../platform/errors';
import { endRevokedSessions, type EndedSession } from '../uploads/sessionAccess';
import { ensureIfMatch } from '../platform/etags';
import { assetEtag } from './assets';
import type { Grant } from './grants';
import { bumpLiveAssetRevision, writeGrants } from './store';

/**
 * PUT /assets/{id}/grants: a full replace of a live asset's grants, with its event. The grants are
 * fields of the asset, so its revision (its ETag) moves. The upload sessions whose write basis the
 * change removes end with it (issue 23): answered with the new ETag, for the caller to tell their runs.
 * `ifMatch`, an ETag the client read the grants with: a change made since (a revocation, say) is not
 * written over, the whole replace is refused (StaleRevisionError) and nothing changes.
 */
export async function replaceGrants(
  db: Knex,
  assetId: string,
  grants: Grant[],
  ifMatch: string | undefined,
  audit: AuditTrail,
): Promise<{ ended: EndedSession[]; etag: string }> {
  return db.transaction(async (trx) => {
    // The update locks the row and reads its latest revision: the one before it is what If-Match is checked against.
    const updated = await bumpLiveAssetRevision(trx, assetId);
    if (!updated) throw new NotFoundError(`asset ${assetId} not found`);
    const read = assetEtag({ revision: updated.revision - 1 });
    ensureIfMatch(ifMatch, read, (etag) => `asset ${assetId} has changed: its ETag is ${etag}; read its grants again`);
    await writeGrants(trx, assetId, grants);
    const ended = await endRevokedSessions(trx, { id: assetId, owner_id: updated.owner_id }, grants);
    await recordEvent(trx, 'storage.asset.updated', assetId, { asset_id: assetId, changed: ['grants'] });
    await audit.record(trx);
    return { ended, etag: assetEtag(updated) };
  });
}
