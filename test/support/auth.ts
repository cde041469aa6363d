/**
 * Tokens for the tests, signed by the suite's Auth Service (test/globalSetup.ts): the tests run as an
 * admin unless a case is about someone else, and say so with `as`.
 */
import { ROLES, type Actor } from '../../lib/auth/actor';
import { signToken, type SigningKey, type TokenClaims } from './issuer';

function suiteKey(): Pick<SigningKey, 'kid' | 'privateJwk'> {
  const key = process.env.STORAGE_TEST_AUTH_SIGNING_KEY;
  if (!key) throw new Error('no STORAGE_TEST_AUTH_SIGNING_KEY: the global setup did not run');
  return JSON.parse(key);
}

export function tokenFor(claims: TokenClaims): Promise<string> {
  return signToken(suiteKey(), claims);
}

/** The suite's admin, also the actor of what a test starts through lib/ rather than over HTTP. */
export const TEST_ADMIN: Actor = { sub: 'test-admin', roles: [ROLES.admin], groups: [] };

let admin: Promise<string> | undefined;
/** The suite's admin: a day-long token, made once per file. */
export function adminToken(): Promise<string> {
  admin ??= tokenFor({ sub: TEST_ADMIN.sub, roles: TEST_ADMIN.roles, expiresIn: 86_400 });
  return admin;
}

export async function bearer(token?: string): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${token ?? (await adminToken())}` };
}
