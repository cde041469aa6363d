/**
 * Every request past the public routes says who it is: a bearer JWT, verified (lib/auth/tokens.ts),
 * becomes the request's actor. With STORAGE_AUTH_MODE=off (refused in staging and production)
 * every caller is an admin.
 */
import type { RequestHandler, Response } from 'express';
import { ROLES, type Actor } from '../../lib/auth/actor';
import { InvalidTokenError } from '../../lib/auth/errors';
import { createTokenVerifier } from '../../lib/auth/tokens';
import type { AuthConfig } from '../../lib/platform/config';

const BEARER = /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)$/i;
const ANYONE_WHEN_OFF: Actor = { sub: 'anonymous', roles: [ROLES.admin], groups: [] };

export function authenticate(auth: AuthConfig): RequestHandler {
  if (auth.mode === 'off') {
    return (_req, res, next) => {
      res.locals.actor = ANYONE_WHEN_OFF;
      next();
    };
  }
  if (!auth.jwksUrl && !auth.publicKey && !auth.secret) {
    throw new Error(
      'STORAGE_AUTH_MODE=jwt needs STORAGE_AUTH_JWKS_URL, STORAGE_AUTH_PUBLIC_KEY or STORAGE_AUTH_JWT_SECRET (npm start makes a development secret)',
    );
  }
  const verify = createTokenVerifier(auth);
  return async (req, res, next) => {
    // The rate limits verified the token already.
    if (res.locals.actor) return next();
    try {
      const header = req.get('Authorization');
      if (!header) throw new InvalidTokenError('send Authorization: Bearer <token>');
      const token = BEARER.exec(header)?.[1];
      if (!token) throw new InvalidTokenError('the Authorization header is not "Bearer <token>"');
      res.locals.actor = await verify(token);
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** The verified caller of a request that passed `authenticate`. */
export function actorOf(res: Response): Actor {
  const actor = res.locals.actor as Actor | undefined;
  if (!actor) throw new Error('no actor: the route is not behind authenticate()');
  return actor;
}
