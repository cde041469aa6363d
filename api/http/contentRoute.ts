import type { Request, RequestHandler, Response } from 'express';
import type { AppDeps } from '../deps';
import { contentRedirectsOf, redirectToStore } from './contentRedirect';
import { contentSourceOf, sendContent, type StoredContent } from './download';
import { refuseDamaged } from '../../lib/scrub/damage';

/**
 * The handler of a content route (an asset's, a version's, a signed URL's): `find` names the stored
 * content the request asks for, after its own access check; it is then sent to the store when it
 * should be (`?redirect`, or its size), else streamed; a damaged version (lib/scrub/damage.ts) is refused.
 */
export function contentHandler(
  deps: Pick<AppDeps, 'db' | 's3' | 'config' | 'logger' | 'metrics' | 'contentCache'>,
  find: (req: Request, res: Response) => Promise<StoredContent>,
): RequestHandler {
  const contents = contentSourceOf(deps);
  const redirects = contentRedirectsOf(deps);
  return async (req, res) => {
    const content = await find(req, res);
    // Wrong bytes are never served: a version a scrub marked damaged answers its problem instead.
    await refuseDamaged(deps.db, content.key);
    if (await redirectToStore(req, res, redirects, content)) return;
    await sendContent(req, res, contents, content);
  };
}
