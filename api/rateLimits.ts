/**
 * Rate limits (README, "Rate limits"). They run before the access rules, so that a refused token is
 * limited too: a request with a valid bearer token spends its actor's budgets (an admin's or a
 * service's are larger), any other its client address's. Reads (GET, HEAD) and writes have request
 * budgets of their own, content bytes a third: an upload's declared length is taken before its body
 * is read; a download's bytes once sent (or redirected to the store), and a spent budget refuses the next download. Every answer
 * says the budgets (RateLimit-Policy) and what is left of those the request spent (RateLimit), in the
 * structured-field form of draft-ietf-httpapi-ratelimit-headers.
 */
import type { Request, RequestHandler, Response } from 'express';
import { actsForAnyOwner, type Actor } from '../lib/auth/actor';
import type { Budget, RateLimiter, Taken, Tier } from '../lib/limits/rateLimiter';
import type { RateLimitConfig } from '../lib/platform/config';
import { RateLimitedError } from '../lib/platform/errors';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const DOWNLOAD = /\/content\/?$/;
// JSON bodies are requests, not content: only other bodies (files, parts) spend content bytes.
const JSON_BODY = /^application\/([\w.-]+\+)?json\b/i;

export function rateLimits(config: RateLimitConfig, limiter: RateLimiter, authenticateCaller: RequestHandler): RequestHandler {
  if (!config.enabled) return (_req, _res, next) => next();
  const policies: Record<Tier, string> = { standard: policyOf(config, 'standard'), privileged: policyOf(config, 'privileged') };
  return (req, res, next) => {
    limit(req, res)
      .then(() => next())
      .catch(next);
  };

  async function limit(req: Request, res: Response): Promise<void> {
    const { key, tier } = await callerOf(req, res, authenticateCaller);
    res.setHeader('RateLimit-Policy', policies[tier]);
    const budget: Budget = READS.has(req.method) ? 'reads' : 'writes';
    const uploadBytes = uploadBytesOf(req);
    const download = req.method === 'GET' && DOWNLOAD.test(req.path);
    const [requests, content] = await Promise.all([
      limiter.take(tier, budget, key, 1),
      uploadBytes ? limiter.take(tier, 'content', key, uploadBytes) : download ? limiter.peek(tier, 'content', key) : undefined,
    ]);
    const states = [stateOf(budget, requests), ...(content ? [stateOf('content', content)] : [])];
    res.setHeader('RateLimit', states.join(', '));
    if (!requests.allowed) throw refusal(budget, requests);
    if (content && !content.allowed) throw refusal('content', content);
    if (download) {
      res.on('finish', () => {
        // A redirect to the store (api/contentRedirect.ts) spends what it sends the client to fetch.
        const sent = res.statusCode === 307 ? Number(res.locals.redirectedBytes) : Number(res.getHeader('Content-Length'));
        if ((res.statusCode < 300 || res.statusCode === 307) && sent > 0) limiter.charge(tier, 'content', key, sent).catch(() => {});
      });
    }
  }
}

async function callerOf(req: Request, res: Response, authenticateCaller: RequestHandler): Promise<{ key: string; tier: Tier }> {
  if (req.get('Authorization')) {
    // A token that does not verify leaves no actor: the access rules answer it, and its address pays.
    await new Promise<void>((resolve) => void authenticateCaller(req, res, () => resolve()));
    const actor = res.locals.actor as Actor | undefined;
    if (actor) return { key: `actor:${actor.sub}`, tier: actsForAnyOwner(actor) ? 'privileged' : 'standard' };
  }
  return { key: `client:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`, tier: 'standard' };
}

function uploadBytesOf(req: Request): number {
  if (READS.has(req.method) || JSON_BODY.test(req.get('Content-Type') ?? '')) return 0;
  const declared = Number(req.get('Content-Length'));
  return Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
}

function policyOf(config: RateLimitConfig, tier: Tier): string {
  const { reads, writes, content } = config[tier];
  const w = config.windowSeconds;
  return `"reads";q=${reads};w=${w}, "writes";q=${writes};w=${w}, "content";q=${content};qu="content-bytes";w=${w}`;
}

function stateOf(budget: Budget, taken: Taken): string {
  return `"${budget}";r=${taken.remaining};t=${taken.resetSeconds}`;
}

function refusal(budget: Budget, taken: Taken): RateLimitedError {
  const what = budget === 'content' ? 'content bytes' : budget;
  return new RateLimitedError(`over the rate limit for ${what}; try again in ${taken.resetSeconds} s`, taken.resetSeconds, budget);
}
