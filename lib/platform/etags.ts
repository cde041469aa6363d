/** Entity tags (RFC 9110 8.8.3) and the lists If-Match and If-None-Match carry. */
import { StaleRevisionError } from './errors';

/**
 * If-Match / If-None-Match lists: `*`, or comma-separated entity tags. If-None-Match compares weakly
 * (a `W/` tag matches); If-Match strongly (RFC 9110 13.1.1: a weak tag never matches).
 */
export function etagMatches(header: string, etag: string, opts: { strong?: boolean } = {}): boolean {
  const tags = header.split(',').map((t) => t.trim());
  if (tags.includes('*')) return true;
  if (opts.strong) return !etag.startsWith('W/') && tags.includes(etag);
  const opaque = (t: string) => t.replace(/^W\//, '');
  return tags.some((t) => opaque(t) === opaque(etag));
}

/**
 * The check every change of a resource makes, in the transaction that changes it: an If-Match the
 * client sent (undefined: none) that `etag` does not strongly match is stale (412), and nothing changes.
 */
export function ensureIfMatch(ifMatch: string | undefined, etag: string, stale: (etag: string) => string): void {
  if (ifMatch !== undefined && !etagMatches(ifMatch, etag, { strong: true })) throw new StaleRevisionError(stale(etag));
}
