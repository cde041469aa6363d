/**
 * Downloads straight from the store: a 307 to a presigned GetObject, so the bytes take no second hop
 * through the API. Asked for with `?redirect=true`, or taken for objects of at least
 * STORAGE_DOWNLOAD_REDIRECT_MIN_BYTES; `?redirect=false` always streams. The routes check access
 * first, then call this before sendContent, which still answers what a redirect would answer worse:
 * - HEAD: the headers alone, without the store;
 * - a conditional GET that matches: 304 from the API, since the store knows its own ETag, not the SHA-256;
 * - Range with If-Range: the store would compare the SHA-256 ETag with its own and send everything.
 * The presigned URL names the object alone; how it is served (Content-Type, Content-Disposition) is
 * signed into it as response-* overrides, and it expires after STORAGE_DOWNLOAD_REDIRECT_TTL_SECONDS.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Request, Response } from 'express';
import { createS3Client } from '../../lib/platform/s3Client';
import { presentationOf } from './contentPresentation';
import type { AppDeps } from '../deps';
import { contentDisposition, etagOf, notModified, parseRange, type StoredContent } from './download';
import { contentBudgetOf } from '../middleware/rateLimits';
import { parse, redirectQuery } from '../schemas/common';

export interface ContentRedirects {
  /** Signs against the store's public endpoint when one is configured. */
  signer: S3Client;
  bucket: string;
  minBytes: number | null;
  ttlSeconds: number;
  count: (reason: 'asked' | 'size') => void;
}

export function contentRedirectsOf(deps: Pick<AppDeps, 's3' | 'config' | 'metrics'>): ContentRedirects {
  const { s3, downloadRedirects } = deps.config;
  return {
    // Presigning sends nothing: this client never opens a connection.
    signer: s3.publicEndpoint ? createS3Client({ ...s3, endpoint: s3.publicEndpoint }) : deps.s3,
    bucket: s3.bucket,
    minBytes: downloadRedirects.minBytes,
    ttlSeconds: downloadRedirects.ttlSeconds,
    count: deps.metrics.countRedirect,
  };
}

/** Answers the 307 and returns true when the download goes to the store; false leaves it to sendContent. */
export async function redirectToStore(req: Request, res: Response, redirects: ContentRedirects, content: StoredContent): Promise<boolean> {
  const { redirect } = parse(redirectQuery, req.query, 'query');
  if (redirect === false || req.method !== 'GET') return false;
  const reason = redirect ? 'asked' : redirects.minBytes !== null && content.sizeBytes >= redirects.minBytes ? 'size' : undefined;
  if (!reason || notModified(req, content)) return false;
  const rangeHeader = req.get('Range');
  if (rangeHeader !== undefined && req.get('If-Range') !== undefined) return false;
  // A range past the end is the API's 416 problem, as when streamed, not the store's XML.
  const range = parseRange(rangeHeader, content.sizeBytes, undefined, etagOf(content));

  // The store sends these, and only these, of the headers the API would send (it has no CSP or nosniff):
  // an active type is an attachment there too (test/activeContent.test.ts asks SeaweedFS).
  const shown = presentationOf(content.contentType, content.disposition);
  const url = await getSignedUrl(
    redirects.signer,
    new GetObjectCommand({
      Bucket: redirects.bucket,
      Key: content.key,
      ResponseContentType: shown.contentType,
      ResponseContentDisposition: contentDisposition(content.name, shown.disposition),
    }),
    { expiresIn: redirects.ttlSeconds },
  );
  // What the client is sent to fetch is spent now: the API never learns how much of it was.
  await contentBudgetOf(res)?.reserve(range ? range.end - range.start + 1 : content.sizeBytes);
  redirects.count(reason);
  res.status(307).setHeader('Location', url).setHeader('Cache-Control', 'private, no-store').setHeader('X-Content-Type-Options', 'nosniff').end();
  return true;
}
