/**
 * Signatures of content URLs, for clients that cannot send a bearer header (an `<img src>`): an
 * HMAC-SHA256 over what the URL grants — the asset, the version (or whichever is current when it is
 * used), how it is served, and until when. The first key signs and every key verifies, so a key can
 * be replaced without breaking the URLs it signed: list [new, old] until those have expired.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignedUrlRefusedError, UrlSigningDisabledError } from './errors';

/** Inline, or attachment with a filename (none: the asset's name when the URL is used). */
export type SignedDisposition = { type: 'inline' } | { type: 'attachment'; filename?: string };

export interface ContentGrant {
  assetId: string;
  /** None: the asset's current version at the time of the download. */
  versionId?: string;
  disposition: SignedDisposition;
  /** Unix seconds. */
  expires: number;
  /** Why the signer could read the asset (lib/assets/permissions.ts `readBasisOf`): checked again at every use. */
  signer: string;
}

// Names what is signed, so that a key shared with another use cannot be replayed here.
const PURPOSE = 'storage-content-url-v2';

/**
 * The bound parts, one a line: ids are UUIDs, and a filename and the signer pass the single-line
 * text rule (api/schemas/common.ts), so no part can hold the separator and two grants never sign alike.
 */
function messageOf(grant: ContentGrant): string {
  const filename = grant.disposition.type === 'attachment' ? (grant.disposition.filename ?? '') : '';
  return [PURPOSE, grant.assetId, grant.versionId ?? 'current', grant.disposition.type, filename, String(grant.expires), grant.signer].join('\n');
}

function signatureWith(key: string, grant: ContentGrant): string {
  return createHmac('sha256', key).update(messageOf(grant)).digest('base64url');
}

export function signContent(keys: string[], grant: ContentGrant): string {
  if (keys.length === 0) throw new UrlSigningDisabledError('this service signs no URLs: STORAGE_URL_SIGNING_KEYS is empty');
  return signatureWith(keys[0], grant);
}

/**
 * Refuses a signature no key made, then an expired grant. The signatures are compared as text, in
 * constant time: compared as decoded bytes, a changed last character of the base64url could decode
 * to the same bytes and pass.
 */
export function verifyContentSignature(keys: string[], grant: ContentGrant, signature: string): void {
  const given = Buffer.from(signature);
  const verifies = keys.some((key) => {
    const expected = Buffer.from(signatureWith(key, grant));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!verifies) throw new SignedUrlRefusedError('the URL signature does not verify: the URL was changed, or signed with a key this service no longer has');
  if (Date.now() >= grant.expires * 1000) throw new SignedUrlRefusedError(`the signed URL expired at ${new Date(grant.expires * 1000).toISOString()}`);
}
