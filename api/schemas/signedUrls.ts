import { z } from 'zod';
import { UUID_PATTERN } from '../../lib/platform/ids';
import type { RouteDeclaration } from '../http/route';
import { assetName, redirectQuery, singleLine, uuid } from './common';
import { contentAnswers, problemAnswer } from './responses';

/** Seven days: a URL that leaks stays usable no longer than this. */
export const MAX_EXPIRES_IN_SECONDS = 604_800;

export const signUrlBody = z
  .object({
    version_id: uuid.optional().describe('pin the URL to this version; default: whichever is current when it is used'),
    expires_in: z
      .number()
      .int()
      .min(1)
      .max(MAX_EXPIRES_IN_SECONDS)
      .meta({ examples: [600] })
      .default(3600)
      .describe('seconds'),
    download: z
      .union([z.literal(true), assetName])
      .optional()
      .describe(
        'serve as an attachment: true names it after the asset, a string names it so (without it, inline for the types that render inline, an attachment for the others)',
      ),
  })
  .strict();

/**
 * The query a signed URL carries. A part that breaks these rules cannot have been signed here, so
 * the signed routes refuse it as they refuse a bad signature (403), not as a bad request.
 */
export const signedQuery = z.object({
  expires: z
    .string()
    .regex(/^\d{1,12}$/, 'must be Unix seconds')
    .meta({ examples: ['1796684400'] }),
  disposition: z.enum(['inline', 'attachment']),
  filename: singleLine(1024)
    .min(1)
    .meta({ examples: ['portrait.png'] })
    .optional(),
  by: singleLine(300)
    .min(1)
    .meta({ examples: ['alice'] }),
  sig: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url HMAC-SHA256')
    .meta({ examples: ['n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg'] }),
});

// `redirect` is not signed: how the bytes travel is the client's choice, not part of the grant.
export const signedContentQuery = signedQuery.extend(redirectQuery.shape);

export const signedParams = z.object({ id: z.string().regex(UUID_PATTERN), version_id: z.string().regex(UUID_PATTERN).optional() });

export const signedUrlAnswer = z
  .object({ url: z.string().describe('path and query, relative to the service, as Location is'), expires_at: z.string().datetime({ offset: true }) })
  .strict();

export const signedContentResponses: RouteDeclaration['responses'] = {
  ...contentAnswers,
  403: problemAnswer('the URL was changed, signed with a retired key, has expired, or its signer may no longer read the asset', [
    'signed-url-refused',
    'forbidden',
  ]),
  404: problemAnswer('the asset or version is gone'),
};
