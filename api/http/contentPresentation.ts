/**
 * How stored bytes are handed to a browser that opens them on the API's origin (issue 23): a file
 * that can run script there could read and change everything its viewer may. So only an allow-list
 * of types that cannot run script renders inline: raster images, plain text, audio and video. Every
 * other type is an attachment, whatever the request or a signed URL asked for: HTML, SVG, XML and
 * XHTML run script; PDF viewers carry a script engine of their own (and Chrome's refuses to render
 * under the sandbox below); and a type nobody listed is not trusted. There is no separate content
 * origin to render active types on, so they are never inline.
 *
 * Every answer is `nosniff` (no browser turns bytes into HTML against their declared type) and
 * `sandbox`ed (a document opened from it has an opaque origin and runs no script); an attachment
 * also gets `default-src 'none'`, for a client that renders it anyway. Plain text declares its
 * charset, UTF-8 unless stored with one, so that no browser guesses one that reads as markup.
 */
import { essenceOf } from '../../lib/platform/mediaTypes';

export type Disposition = 'inline' | 'attachment';

export interface Presentation {
  contentType: string;
  disposition: Disposition;
  contentSecurityPolicy: string;
}

const INLINE_TYPES = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'text/plain',
  'audio/mpeg',
  'audio/ogg',
  'audio/wav',
  'audio/webm',
  'audio/flac',
  'audio/aac',
  'audio/mp4',
  'video/mp4',
  'video/webm',
  'video/ogg',
]);

const ATTACHMENT_POLICY = "default-src 'none'; sandbox";

/**
 * The type is read by the rule it was given by (lib/platform/mediaTypes.ts). One stored before that
 * rule that is not one media type (`image/png;,text/html`, which a browser reads as text/html) is
 * served as bytes: it would be checked as one type here and rendered as another there.
 */
export function presentationOf(storedType: string, asked: Disposition = 'inline'): Presentation {
  const essence = essenceOf(storedType);
  if (essence === undefined) return { contentType: 'application/octet-stream', disposition: 'attachment', contentSecurityPolicy: ATTACHMENT_POLICY };
  if (asked === 'inline' && INLINE_TYPES.has(essence)) {
    return { contentType: withCharset(storedType, essence), disposition: 'inline', contentSecurityPolicy: 'sandbox' };
  }
  return { contentType: withCharset(storedType, essence), disposition: 'attachment', contentSecurityPolicy: ATTACHMENT_POLICY };
}

function withCharset(storedType: string, essence: string): string {
  return essence === 'text/plain' && !/;\s*charset=/i.test(storedType) ? `${storedType}; charset=utf-8` : storedType;
}
