/**
 * The Auth Service as the tests see it: ES256 keys, published as a JWKS over loopback HTTP, and
 * tokens signed with them. The suite runs one (test/globalSetup.ts, its private key handed to the
 * files through the environment); a test of key rotation starts its own.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export const TEST_ISSUER = 'storage-test-auth';
export const TEST_AUDIENCE = 'storage-service';

export interface SigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function newSigningKey(): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  };
}

export interface TokenClaims {
  /** null drops the claim. */
  sub?: string | null;
  roles?: string[];
  groups?: string[];
  iss?: string | null;
  aud?: string | null;
  /** Seconds from now; negative for a token already expired; null for none at all. */
  expiresIn?: number | null;
  notBefore?: number;
  [claim: string]: unknown;
}

/** A token signed with `key`; every standard claim can be changed or dropped (undefined) by the test. */
export async function signToken(key: Pick<SigningKey, 'kid' | 'privateJwk'>, claims: TokenClaims = {}): Promise<string> {
  const { sub = 'alice', iss = TEST_ISSUER, aud = TEST_AUDIENCE, expiresIn = 3600, notBefore, ...rest } = claims;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...rest }).setProtectedHeader({ alg: 'ES256', kid: key.kid }).setIssuedAt(now);
  if (expiresIn !== null) jwt.setExpirationTime(now + expiresIn);
  if (sub !== null) jwt.setSubject(sub);
  if (iss !== null) jwt.setIssuer(iss);
  if (aud !== null) jwt.setAudience(aud);
  if (notBefore !== undefined) jwt.setNotBefore(now + notBefore);
  return jwt.sign(await importJWK(key.privateJwk, 'ES256'));
}

export interface TestIssuer {
  jwksUrl: string;
  keys: SigningKey[];
  /** How many times the JWKS was fetched. */
  fetches(): number;
  /** Publishes a new key beside the current ones; answers it. */
  addKey(): Promise<SigningKey>;
  /** Stops publishing a key. */
  removeKey(kid: string): void;
  stop(): Promise<void>;
}

export async function startTestIssuer(): Promise<TestIssuer> {
  const keys = [await newSigningKey()];
  let fetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    keys,
    fetches: () => fetches,
    addKey: async () => {
      const key = await newSigningKey();
      keys.push(key);
      return key;
    },
    removeKey: (kid) => {
      const at = keys.findIndex((k) => k.kid === kid);
      if (at >= 0) keys.splice(at, 1);
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
