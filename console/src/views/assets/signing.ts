/**
 * Signed URLs of asset content, as the console shows it: an `<img>`, `<audio>` or link cannot send the
 * bearer token, and there are no renditions yet (issue 32), so a thumbnail is the content itself
 * through a signed URL. Signing is a POST each: they are kept while good and made a few at a time, so
 * that a grid of 50 (or 1,000) does not send them all at once.
 */
import { unwrap, type Api } from '../../api';

/** What the API allows (api/schemas/signedUrls.ts MAX_EXPIRES_IN_SECONDS). */
export const MAX_EXPIRY_SECONDS = 604_800;
/** How long a thumbnail's URL is asked for, and how long before its end one is signed again. */
const PREVIEW_SECONDS = 3600;
const RENEW_BEFORE_MS = 5 * 60_000;
/** Signings in flight at once. */
const CONCURRENCY = 6;

export interface SignOptions {
  versionId?: string | null;
  expiresIn?: number;
  /** Served as an attachment named after the asset. */
  download?: boolean;
}

export async function signUrl(api: Api, assetId: string, opts: SignOptions = {}): Promise<{ url: string; expires_at: string }> {
  const body: { expires_in: number; version_id?: string; download?: true } = { expires_in: opts.expiresIn ?? PREVIEW_SECONDS };
  if (opts.versionId) body.version_id = opts.versionId;
  if (opts.download) body.download = true;
  return unwrap(api.POST('/api/v2/assets/{id}/url', { params: { path: { id: assetId } }, body }));
}

/**
 * The URL to use in this page: streamed by the API, never redirected to the object store, which the
 * console's CSP (img-src, media-src, connect-src 'self') would not let it load. `redirect` is not signed.
 */
export function inPage(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}redirect=false`;
}

let running = 0;
const waiting: Array<() => void> = [];

function slot(signal: AbortSignal): Promise<void> {
  if (running < CONCURRENCY) {
    running++;
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const start = () => {
      signal.removeEventListener('abort', drop);
      running++;
      resolve();
    };
    const drop = () => {
      const at = waiting.indexOf(start);
      if (at >= 0) waiting.splice(at, 1);
      reject(signal.reason);
    };
    waiting.push(start);
    signal.addEventListener('abort', drop, { once: true });
  });
}

function release(): void {
  running--;
  waiting.shift()?.();
}

const kept = new Map<string, { url: string; until: number }>();

/** The in-page URL of a version's content, signed once and kept while good; waits its turn among the signings. */
export async function previewUrl(api: Api, assetId: string, versionId: string | null, signal: AbortSignal): Promise<string> {
  const key = `${assetId}:${versionId ?? ''}`;
  const known = kept.get(key);
  if (known && known.until - Date.now() > RENEW_BEFORE_MS) return known.url;
  await slot(signal);
  try {
    const signed = await signUrl(api, assetId, { versionId });
    const url = inPage(signed.url);
    kept.set(key, { url, until: Date.parse(signed.expires_at) });
    return url;
  } finally {
    release();
  }
}
