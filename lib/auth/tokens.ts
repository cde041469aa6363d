/**
 * Bearer tokens, verified with jose against the keys the configuration names: a remote JWKS (cached;
 * an unknown `kid` fetches it again, at most once per cooldown), a PEM public key, or an HS256
 * development secret. The algorithms come from the configuration, never from the token.
 */
import { createPublicKey, createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type KeyObject } from 'jose';
import type { AuthConfig } from '../platform/config';
import { ServiceUnavailableError } from '../platform/errors';
import { ROLES, type Actor, type Role } from './actor';
import { InvalidTokenError } from './errors';

export type TokenVerifier = (token: string) => Promise<Actor>;

export function createTokenVerifier(auth: AuthConfig): TokenVerifier {
  const key = verificationKeyOf(auth);
  const options = {
    algorithms: auth.algorithms,
    issuer: auth.issuer,
    audience: auth.audience,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: auth.clockToleranceSeconds,
  };
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, options));
    } catch (err) {
      throw tokenFailure(err);
    }
    checkLifetime(payload, auth.maxTokenLifetimeSeconds);
    return actorOf(payload, auth);
  };
}

/** jose has checked that `exp` (required) and `iat` (when present) are numbers. */
function checkLifetime(payload: JWTPayload, maxSeconds: number): void {
  const lifetime = payload.exp! - (payload.iat ?? Math.floor(Date.now() / 1000));
  if (lifetime > maxSeconds) {
    const from = payload.iat === undefined ? 'now' : 'its "iat"';
    throw new InvalidTokenError(`the token lives longer than ${maxSeconds} seconds, the longest this service accepts ("exp" is ${lifetime} s after ${from})`);
  }
}

function verificationKeyOf(auth: AuthConfig): JWTVerifyGetKey | KeyObject {
  if (auth.jwksUrl) {
    return createRemoteJWKSet(new URL(auth.jwksUrl), {
      cooldownDuration: auth.jwksCooldownSeconds * 1000,
      cacheMaxAge: auth.jwksCacheSeconds * 1000,
      timeoutDuration: 5000,
    });
  }
  if (auth.publicKey) return createPublicKey(auth.publicKey);
  // A KeyObject, made once: given bytes, jose imports the key again on every verification.
  if (auth.secret) return createSecretKey(Buffer.from(auth.secret, 'utf8'));
  throw new Error('no key to verify tokens with');
}

/** Says which check failed; a key source that cannot be reached is the service's problem, not the token's. */
function tokenFailure(err: unknown): Error {
  if (err instanceof errors.JWTExpired) return new InvalidTokenError('the token has expired');
  if (err instanceof errors.JWTClaimValidationFailed) return new InvalidTokenError(`the token's "${err.claim}" claim ${claimProblem(err)}`);
  if (err instanceof errors.JOSEAlgNotAllowed) return new InvalidTokenError('the token is signed with an algorithm this service does not accept');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new InvalidTokenError('the token signature does not verify');
  if (err instanceof errors.JWKSNoMatchingKey) return new InvalidTokenError("the token's key is not among the issuer's keys");
  // Whatever jose did not raise itself came from fetching the keys (a refused connection, a DNS failure).
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError)) {
    return new ServiceUnavailableError("the Auth Service's keys could not be fetched", 5);
  }
  return new InvalidTokenError('the token is malformed');
}

function claimProblem(err: InstanceType<typeof errors.JWTClaimValidationFailed>): string {
  if (err.reason === 'missing') return 'is missing';
  if (err.claim === 'nbf') return 'is in the future: the token is not valid yet';
  return `is not the one this service expects (${err.reason})`;
}

// The subject becomes an owner id and an audit actor: the text rule of api/schemas/common.ts (ownerId) holds for it too.
const SUBJECT_TEXT = /^[^\u0000-\u001f\u007f]{1,255}$/;
const LONE_SURROGATE = /[\ud800-\udfff]/u;

function actorOf(payload: JWTPayload, auth: AuthConfig): Actor {
  // A claim is any JSON value: `sub: true` has no length to check.
  const sub: unknown = payload.sub;
  if (typeof sub !== 'string' || !SUBJECT_TEXT.test(sub) || LONE_SURROGATE.test(sub)) {
    throw new InvalidTokenError('the token\'s "sub" claim must be a string of 1 to 255 characters, without control characters');
  }
  const known = Object.values<string>(ROLES);
  const roles = stringsOf(payload[auth.rolesClaim]).filter((r): r is Role => known.includes(r));
  return { sub, roles, groups: stringsOf(payload[auth.groupsClaim]) };
}

/** A claim given as a list, or as one space-separated string (the OAuth `scope` style). */
function stringsOf(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.filter((c): c is string => typeof c === 'string' && c.length > 0);
  if (typeof claim === 'string') return claim.split(/\s+/).filter(Boolean);
  return [];
}
