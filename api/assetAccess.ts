import { getAsset, type AssetRow } from '../lib/assets/assets';
import { authorize, type AssetAccess } from '../lib/assets/access';
import type { Actor } from '../lib/auth/actor';
import type { Db } from '../lib/platform/db';

/** The asset, once `actor` is known to be allowed `need` on it (404 if they may not even read it). */
export async function assetFor(db: Db, actor: Actor, id: string, need: AssetAccess, opts: { includeDeleted?: boolean } = {}): Promise<AssetRow> {
  const asset = await getAsset(db, id, opts);
  authorize(actor, asset, need);
  return asset;
}
