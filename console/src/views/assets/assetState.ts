/**
 * An asset as its page holds it: the asset and the ETag it was read with, which every change sends as
 * If-Match, so that nobody's change made meanwhile is written over (412: the page says so and reloads).
 */
import { StorageProblem, unwrap, type Api, type components } from '../../api';

export type Asset = components['schemas']['Asset'];
export type Version = components['schemas']['Version'];

export interface LoadedAsset {
  asset: Asset;
  etag: string;
}

export async function loadAsset(api: Api, id: string, signal?: AbortSignal): Promise<LoadedAsset> {
  const answer = await api.GET('/api/v2/assets/{id}', { params: { path: { id } }, signal });
  const asset = await unwrap(Promise.resolve(answer));
  return { asset, etag: answer.response.headers.get('etag') ?? '' };
}

/** A change refused because the asset changed since the page read it. */
export const isStale = (error: unknown) => error instanceof StorageProblem && error.status === 412;

export const STALE_MESSAGE = 'The asset changed since you loaded it: the page now shows it as it is. Make your change again.';

/** Whether the signed-in user may change the asset's grants and restore its versions (the API checks it anyway). */
export const mayOwn = (asset: Asset, session: { sub: string; isAdmin: boolean }) => session.isAdmin || asset.owner_id === session.sub;

/** The media type without its parameters, lowercased. */
export const essenceOf = (contentType: string) => contentType.split(';')[0].trim().toLowerCase();
