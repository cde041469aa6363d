/**
 * Signed content URLs. A caller who may read an asset signs a URL of its content; the URL then works
 * without a token, for GET and HEAD, with ranges and conditional requests, until it expires.
 *
 * The signed URLs have paths of their own (/api/v2/signed/...), public in their declarations: their
 * handler checks the signature where the access layer would check a token, and the content routes
 * keep taking tokens alone — no request is ever judged by both.
 *
 * Signing binds what the URL serves and why its signer could read the asset: when the URL is used,
 * the asset (and a pinned version) must still be there, whoever signed it, and the signer must still
 * be its owner, or still hold the grant they signed with (a service's or an admin's URL stays good).
 */
import type { Request, RequestHandler } from 'express';
import { readBasisHolds, readBasisOf } from '../../lib/assets/permissions';
import { assetFor, currentOf } from '../access/assetLookup';
import { actorOf } from '../middleware/authentication';
import { getVersion } from '../../lib/assets/versions';
import { SignedUrlRefusedError } from '../../lib/auth/errors';
import { NotFoundError } from '../../lib/platform/errors';
import { ensureIfMatch } from '../../lib/platform/etags';
import { assetEtag } from '../../lib/assets/assets';
import { signContent, verifyContentSignature, type ContentGrant, type SignedDisposition } from '../../lib/auth/urlSignatures';
import { contentHandler } from '../http/contentRoute';
import { storedContentOf } from '../http/download';
import { ifMatchOf } from '../http/preconditions';
import { defineRoute, type RouteDeps } from '../http/route';
import { idParams, parse, versionParams } from '../schemas/common';
import { problemAnswer } from '../schemas/responses';
import { contentRequestHeaders } from '../schemas/responses';
import { signUrlBody, signedContentQuery, signedContentResponses, signedParams, signedQuery, signedUrlAnswer } from '../schemas/signedUrls';

const sign = defineRoute(
  {
    method: 'post',
    path: '/api/v2/assets/:id/url',
    access: 'caller',
    tag: 'assets',
    summary: "A signed URL of the content, usable without a token until it expires (an <img src>); optional If-Match: the asset's ETag",
    preconditions: 'unchanged',
    params: idParams,
    body: { schema: signUrlBody },
    responses: {
      200: { description: 'the URL', schema: signedUrlAnswer },
      404: problemAnswer('unknown asset or version'),
      501: problemAnswer('the service has no signing key (STORAGE_URL_SIGNING_KEYS)'),
    },
  },
  (deps) => async (req, res) => {
    const { id } = parse(idParams, req.params, 'path');
    const body = parse(signUrlBody, req.body ?? {}, 'body');
    // Whoever may not read the asset may not sign it (and learns nothing more than its GET would say).
    const actor = actorOf(res);
    const asset = await assetFor(deps.assetCache, actor, id, 'read');
    // Signing changes nothing: If-Match is compared with the asset as it was read (412 when it has changed since).
    const ifMatch = ifMatchOf(req);
    ensureIfMatch(ifMatch, assetEtag(asset), (etag) => `asset ${id} has changed: its ETag is ${etag}`);
    if (body.version_id) await getVersion(deps.db, id, body.version_id);
    const grant: ContentGrant = {
      signer: readBasisOf(actor, asset)!,
      assetId: id,
      versionId: body.version_id,
      disposition: dispositionOf(body.download),
      expires: Math.floor(Date.now() / 1000) + body.expires_in,
    };
    res.json({ url: signedUrlOf(grant, signContent(deps.config.urlSigningKeys, grant)), expires_at: new Date(grant.expires * 1000).toISOString() });
  },
);

/** The content a signed URL grants, served as the content routes serve it. */
function serveSigned(deps: RouteDeps): RequestHandler {
  const keys = deps.config.urlSigningKeys;
  return contentHandler(deps, async (req) => {
    const { grant, signature } = signedGrantOf(req);
    verifyContentSignature(keys, grant, signature);
    const found = await deps.assetCache.read(grant.assetId);
    if (!found || found.row.is_deleted) throw new NotFoundError(`asset ${grant.assetId} not found`);
    const asset = found.row;
    if (!readBasisHolds(grant.signer, asset)) throw new SignedUrlRefusedError('whoever signed this URL may no longer read the asset');
    const pinned = grant.versionId && grant.versionId !== found.content?.id;
    const version = pinned ? await getVersion(deps.db, grant.assetId, grant.versionId!) : currentOf(asset, found.content);
    const served = grant.disposition.type === 'attachment' ? { disposition: 'attachment' as const, name: grant.disposition.filename ?? asset.name } : {};
    return { ...storedContentOf(asset, version), ...served };
  });
}

const signedContent = defineRoute(
  {
    method: 'get',
    path: '/api/v2/signed/assets/:id/content',
    access: 'anyone',
    tag: 'assets',
    summary: "A signed URL of the current version's bytes: the signature stands for the token (Range, If-None-Match, HEAD)",
    params: idParams,
    query: signedContentQuery,
    headers: contentRequestHeaders,
    responses: signedContentResponses,
  },
  serveSigned,
);

const signedVersionContent = defineRoute(
  {
    method: 'get',
    path: '/api/v2/signed/assets/:id/versions/:version_id/content',
    access: 'anyone',
    tag: 'versions',
    summary: "A signed URL of a version's bytes",
    params: versionParams,
    query: signedContentQuery,
    headers: contentRequestHeaders,
    responses: signedContentResponses,
  },
  serveSigned,
);

export const SIGNED_URL_ROUTES = [sign, signedContent, signedVersionContent];

function dispositionOf(download: true | string | undefined): SignedDisposition {
  if (download === undefined) return { type: 'inline' };
  return download === true ? { type: 'attachment' } : { type: 'attachment', filename: download };
}

/** The URL of a grant: the content path under /api/v2/signed, the rest of the grant in the query. */
export function signedUrlOf(grant: ContentGrant, signature: string): string {
  const path = grant.versionId
    ? `/api/v2/signed/assets/${grant.assetId}/versions/${grant.versionId}/content`
    : `/api/v2/signed/assets/${grant.assetId}/content`;
  const query = new URLSearchParams({ expires: String(grant.expires), disposition: grant.disposition.type });
  if (grant.disposition.type === 'attachment' && grant.disposition.filename) query.set('filename', grant.disposition.filename);
  query.set('by', grant.signer);
  query.set('sig', signature);
  return `${path}?${query}`;
}

/** What a signed URL claims to grant; a part that could not have been signed here is refused before any key is tried. */
function signedGrantOf(req: Request): { grant: ContentGrant; signature: string } {
  const params = signedParams.safeParse(req.params);
  const query = signedQuery.safeParse(req.query);
  if (!params.success || !query.success || (query.data.filename !== undefined && query.data.disposition !== 'attachment')) {
    throw new SignedUrlRefusedError('the signed URL is malformed: use it exactly as it was given');
  }
  const { expires, disposition, filename, by, sig } = query.data;
  return {
    grant: {
      signer: by,
      assetId: params.data.id,
      versionId: params.data.version_id,
      disposition: disposition === 'inline' ? { type: 'inline' } : { type: 'attachment', filename },
      expires: Number(expires),
    },
    signature: sig,
  };
}
