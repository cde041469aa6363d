import type { AssetRow } from '../../lib/assets/assets';
import { authorize, type AssetAccess } from '../../lib/assets/permissions';
import type { Actor } from '../../lib/auth/actor';
import type { AssetCache, CachedAsset, ContentFacts } from '../../lib/cache/assetCache';
import { NotFoundError } from '../../lib/platform/errors';

type Options = { includeDeleted?: boolean };

/** The asset, once `actor` is known to be allowed `need` on it (404 if they may not even read it). */
export async function assetFor(assets: AssetCache, actor: Actor, id: string, need: AssetAccess, opts: Options = {}): Promise<AssetRow> {
  return (await authorized(assets, actor, id, need, opts)).row;
}

/** The same with its current version's content facts, read with the row (from the cache when it can be). */
export async function assetWithContentFor(
  assets: AssetCache,
  actor: Actor,
  id: string,
  need: AssetAccess,
): Promise<{ asset: AssetRow; content: ContentFacts | null }> {
  const found = await authorized(assets, actor, id, need, {});
  return { asset: found.row, content: found.content };
}

async function authorized(assets: AssetCache, actor: Actor, id: string, need: AssetAccess, opts: Options): Promise<CachedAsset> {
  const found = await assets.read(id);
  if (!found || (found.row.is_deleted && !opts.includeDeleted)) throw new NotFoundError(`asset ${id} not found`);
  authorize(actor, found.row, need);
  return found;
}

/** The current version's facts, or the 404 getVersion gives when it is gone. */
export function currentOf(asset: AssetRow, content: ContentFacts | null): ContentFacts {
  if (!content) throw new NotFoundError(`version ${asset.current_version_id} of asset ${asset.id} not found`);
  return content;
}
