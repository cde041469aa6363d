import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import { etagMatches } from '../../lib/platform/etags';
import type { VersionRow } from '../../lib/assets/versions';
import type { ContentCache } from '../../lib/cache/contentCache';
import { RangeNotSatisfiableError } from '../../lib/platform/errors';
import type { Logger } from '../../lib/platform/logger';
import { presentationOf, type Disposition, type Presentation } from './contentPresentation';
import type { AppDeps } from '../deps';
import { contentBudgetOf } from '../middleware/rateLimits';
import { loggedUrl } from '../middleware/requestContext';

export interface StoredContent {
  key: string;
  sizeBytes: number;
  checksumSha256: string;
  contentType: string;
  lastModified: Date;
  /** The filename Content-Disposition gives. */
  name: string;
  /** Inline unless said: a signed URL may ask for an attachment (inline is granted to safe types only: api/http/contentPresentation.ts). */
  disposition?: Disposition;
}

export function storedContentOf(
  asset: { name: string },
  version: Pick<VersionRow, 'object_key' | 'size_bytes' | 'checksum_sha256' | 'content_type' | 'created_at'>,
): StoredContent {
  return {
    key: version.object_key,
    sizeBytes: version.size_bytes,
    checksumSha256: version.checksum_sha256,
    contentType: version.content_type,
    lastModified: version.created_at,
    name: asset.name,
  };
}

/** Where downloads read their bytes from, and what they report. */
export interface ContentSource {
  s3: S3Client;
  bucket: string;
  logger: Logger;
  countBytes: (n: number) => void;
  /** Small objects' bytes in Redis, by SHA-256 (lib/cache/contentCache.ts). */
  cache?: ContentCache;
}

export function contentSourceOf(deps: Pick<AppDeps, 's3' | 'config' | 'logger' | 'metrics' | 'contentCache'>): ContentSource {
  return { s3: deps.s3, bucket: deps.config.s3.bucket, logger: deps.logger, countBytes: deps.metrics.countDownloaded, cache: deps.contentCache };
}

/**
 * Serves stored bytes with what HTTP clients and caches expect: ETag (the SHA-256), Last-Modified,
 * conditional GET (304), one byte range (206, or 416 past the end), and HEAD without touching S3.
 * The headers of a 200 or 206 are set once S3 has answered: a failed GetObject is a problem+json
 * without them. The S3 stream is released as soon as the client goes away; one that fails midway
 * cuts the response, which is all the client can still be told, and is logged. The bytes of a small
 * object come from the content cache when they are there, with the same answers.
 */
export async function sendContent(req: Request, res: Response, source: ContentSource, content: StoredContent): Promise<void> {
  const etag = etagOf(content);
  if (notModified(req, content)) {
    setRepresentationHeaders(res, content, etag);
    res.status(304).end();
    return;
  }

  const range = parseRange(req.get('Range'), content.sizeBytes, req.get('If-Range'), etag);
  if (req.method === 'HEAD' || content.sizeBytes === 0) {
    setContentHeaders(res, content, etag, range);
    res.end();
    return;
  }

  // The content budget is spent before the first byte, so that concurrent downloads cannot all pass.
  const length = range ? range.end - range.start + 1 : content.sizeBytes;
  const refund = (await contentBudgetOf(res)?.reserve(length)) ?? (() => {});

  const cached = await source.cache?.get(content.checksumSha256, content.sizeBytes);
  // Gone while the asset, the budget or the cache was read: that close was heard by nobody, and
  // nothing would release what is fetched for it now.
  if (res.closed) {
    refund(length);
    return;
  }
  if (cached) {
    sendCached(res, source, content, etag, range, cached);
    return;
  }

  const body = await openObject(res, source, content, range, () => refund(length));
  if (body) streamObject(req, res, { source, content, etag, range }, body, refund);
}

type ByteRange = { start: number; end: number };

/** The object's stream from S3, or nothing once the client has gone (what it reserved given back by `release`). */
async function openObject(
  res: Response,
  source: ContentSource,
  content: StoredContent,
  range: ByteRange | undefined,
  release: () => void,
): Promise<Readable | undefined> {
  const abort = new AbortController();
  const onClose = () => abort.abort();
  res.on('close', onClose);
  let body: Readable;
  try {
    const object = await source.s3.send(
      new GetObjectCommand({ Bucket: source.bucket, Key: content.key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
      { abortSignal: abort.signal },
    );
    body = object.Body as Readable;
  } catch (err) {
    release();
    if (abort.signal.aborted) return undefined;
    throw err;
  }
  res.off('close', onClose);
  // The client may have gone while S3 answered: nothing would release the stream then.
  if (abort.signal.aborted) {
    release();
    body.destroy();
    return undefined;
  }
  return body;
}

/** Pipes the object to the client, counting its bytes; `refund` gives back what a client that went away was not sent. */
function streamObject(
  req: Request,
  res: Response,
  sent: { source: ContentSource; content: StoredContent; etag: string; range: ByteRange | undefined },
  body: Readable,
  refund: (unsentBytes: number) => void,
): void {
  const { source, content, etag, range } = sent;
  const length = range ? range.end - range.start + 1 : content.sizeBytes;
  let clientGone = false;
  let bytesRead = 0;
  res.on('close', () => {
    clientGone = !res.writableFinished;
    // What the client was not sent goes back to its budget (what was read from S3 counts as sent).
    if (clientGone) refund(length - bytesRead);
    body.destroy();
  });
  body.on('error', (err) => {
    if (!clientGone) {
      source.logger.error('download cut: the object store stream failed', {
        err,
        key: content.key,
        bytes_read: bytesRead,
        path: loggedUrl(req),
        request_id: res.getHeader('X-Request-Id'),
      });
    }
    res.destroy();
  });
  body.on('data', (chunk: Buffer) => {
    bytesRead += chunk.length;
    source.countBytes(chunk.length);
  });
  keepWhenWhole(body, source, content, range);
  setContentHeaders(res, content, etag, range);
  body.pipe(res);
}

/** A content cache hit: the same headers and range as from S3, from the bytes in hand. */
function sendCached(res: Response, source: ContentSource, content: StoredContent, etag: string, range: ByteRange | undefined, bytes: Buffer): void {
  const body = range ? bytes.subarray(range.start, range.end + 1) : bytes;
  setContentHeaders(res, content, etag, range);
  source.countBytes(body.length);
  res.end(body);
}

/** A whole small object streamed from S3 is kept in the content cache once it ended intact. */
function keepWhenWhole(body: Readable, source: ContentSource, content: StoredContent, range: ByteRange | undefined): void {
  const keeper = range ? undefined : source.cache?.keeper(content.checksumSha256, content.sizeBytes);
  if (!keeper) return;
  body.on('data', (chunk: Buffer) => keeper.add(chunk));
  body.on('end', () => keeper.end());
}

/** What describes the stored bytes themselves: sent with a 304 as with the bytes. */
function setRepresentationHeaders(res: Response, content: StoredContent, etag: string): Presentation {
  const shown = presentationOf(content.contentType, content.disposition);
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', content.lastModified.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'private, no-cache');
  res.setHeader('Content-Disposition', contentDisposition(content.name, shown.disposition));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', shown.contentSecurityPolicy);
  return shown;
}

function setContentHeaders(res: Response, content: StoredContent, etag: string, range: { start: number; end: number } | undefined): void {
  const shown = setRepresentationHeaders(res, content, etag);
  res.setHeader('Content-Type', shown.contentType);
  if (range) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${content.sizeBytes}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader('Content-Length', String(content.sizeBytes));
  }
}

export const etagOf = (content: StoredContent) => `"${content.checksumSha256}"`;

/** A conditional GET the client's copy still answers: If-None-Match, or else If-Modified-Since. */
export function notModified(req: Request, content: StoredContent): boolean {
  const ifNoneMatch = req.get('If-None-Match');
  return ifNoneMatch !== undefined ? etagMatches(ifNoneMatch, etagOf(content)) : notModifiedSince(req.get('If-Modified-Since'), content.lastModified);
}

function notModifiedSince(header: string | undefined, lastModified: Date): boolean {
  if (!header) return false;
  const since = Date.parse(header);
  return !Number.isNaN(since) && Math.floor(lastModified.getTime() / 1000) <= Math.floor(since / 1000);
}

/**
 * One `bytes=` range (first-last, first-, or -suffix). Anything else, several ranges, or an If-Range
 * that no longer matches: the whole body (RFC 9110 lets a server ignore Range). Past the end: 416.
 */
export function parseRange(header: string | undefined, size: number, ifRange: string | undefined, etag: string): { start: number; end: number } | undefined {
  if (!header) return undefined;
  if (ifRange !== undefined && ifRange !== etag) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) throw new RangeNotSatisfiableError(`range ${header} selects no bytes`, size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
    if (match[2] !== '' && Number(match[2]) < start) return undefined;
  }
  if (start >= size) throw new RangeNotSatisfiableError(`range ${header} starts past the end (${size} bytes)`, size);
  return { start, end };
}

/** RFC 6266 with an RFC 5987 `filename*` so non-ASCII names survive; the plain fallback is ASCII-safe. */
export function contentDisposition(name: string, disposition: Disposition): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\/%;]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
