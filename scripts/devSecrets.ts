/**
 * The development secrets `npm start` and `npm run token` use when none is configured: an HS256
 * secret for tokens and a URL signing key, made once in npm start's data folder (.data/, or
 * STORAGE_DEV_DATA_DIR: a second stack's tokens are its own; never committed) and kept, so
 * tokens minted earlier still verify after a restart. Only in development: other environments
 * configure their own (and staging and production refuse the HS256 secret).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfigOrExit, type Config } from '../lib/platform/config';
import { devStackOptions } from './stack';

interface DevSecrets {
  jwtSecret: string;
  urlSigningKey: string;
}

function readOrMake(): DevSecrets {
  const file = path.join(devStackOptions().dataDir, 'dev-secrets.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as DevSecrets;
  const secrets = { jwtSecret: randomBytes(32).toString('base64url'), urlSigningKey: randomBytes(32).toString('base64url') };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/**
 * The configuration, with the development secrets filled in (into process.env too, for the
 * processes started from here) where development has none of its own. Answers whether it used them.
 */
export function configWithDevSecrets(): { config: Config; usesDevSecret: boolean } {
  const config = loadConfigOrExit();
  const { auth } = config;
  const noKeys = auth.mode === 'jwt' && !auth.jwksUrl && !auth.publicKey && !auth.secret;
  if (config.environment !== 'development' || (!noKeys && config.urlSigningKeys.length > 0)) return { config, usesDevSecret: Boolean(auth.secret) };
  const secrets = readOrMake();
  if (noKeys) process.env.STORAGE_AUTH_JWT_SECRET = secrets.jwtSecret;
  if (config.urlSigningKeys.length === 0) process.env.STORAGE_URL_SIGNING_KEYS = secrets.urlSigningKey;
  const filled = loadConfigOrExit();
  return { config: filled, usesDevSecret: Boolean(filled.auth.secret) };
}
