import type { Request, RequestHandler, Response } from 'express';
import type { AppDeps } from '../deps';
import { contentRedirectsOf, redirectToStore } from './contentRedirect';
import { contentSourceOf, sendContent, type StoredContent } from './download';

/**
 * The handler of a content route (an asset's, a version's, a signed URL's): `find` names the stored
 * content the request asks for, after its own access check; it is then sent to the store when it
 * should be (`?redirect`, or its size), else streamed.
 */
export function contentHandler(
  deps: Pick<AppDeps, 's3' | 'config' | 'logger' | 'metrics' | 'contentCache'>,
  find: (req: Request, res: Response) => Promise<StoredContent>,
): RequestHandler {
  const contents = contentSourceOf(deps);
  const redirects = contentRedirectsOf(deps);
  return async (req, res) => {
    const content = await find(req, res);
    if (await redirectToStore(req, res, redirects, content)) return;
    await sendContent(req, res, contents, content);
  };
}
