/**
 * Tokens signed with the HS256 development secret: what `npm run token` prints, what `npm start`
 * offers as an admin token, and what the bench's client sends. Production verifies the Auth
 * Service's keys instead, and refuses the secret (lib/platform/config.ts).
 */
import { SignJWT } from 'jose';
import type { AuthConfig } from '../platform/config';

export interface DevTokenClaims {
  sub: string;
  roles?: string[];
  groups?: string[];
  /** Seconds; a day unless said. */
  expiresIn?: number;
}

export function mintDevToken(auth: Pick<AuthConfig, 'secret' | 'issuer' | 'audience' | 'rolesClaim' | 'groupsClaim'>, claims: DevTokenClaims): Promise<string> {
  if (!auth.secret) throw new Error('no STORAGE_AUTH_JWT_SECRET to sign with');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ [auth.rolesClaim]: claims.roles ?? [], [auth.groupsClaim]: claims.groups ?? [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.expiresIn ?? 86_400))
    .sign(new TextEncoder().encode(auth.secret));
}
