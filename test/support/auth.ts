/**
 * Tokens for the tests, signed by the suite's Auth Service (test/globalSetup.ts): the tests run as an
 * admin unless a case is about someone else, and say so with `as`.
 */
import { signToken, type SigningKey, type TokenClaims } from './issuer';

function suiteKey(): Pick<SigningKey, 'kid' | 'privateJwk'> {
  const key = process.env.STORAGE_TEST_AUTH_SIGNING_KEY;
  if (!key) throw new Error('no STORAGE_TEST_AUTH_SIGNING_KEY: the global setup did not run');
  return JSON.parse(key);
}

export function tokenFor(claims: TokenClaims): Promise<string> {
  return signToken(suiteKey(), claims);
}

let admin: Promise<string> | undefined;
/** The suite's admin: a day-long token, made once per file. */
export function adminToken(): Promise<string> {
  admin ??= tokenFor({ sub: 'test-admin', roles: ['storage:admin'], expiresIn: 86_400 });
  return admin;
}

export async function bearer(token?: string): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${token ?? (await adminToken())}` };
}
