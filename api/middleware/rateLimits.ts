/**
 * Rate limits (docs/security.md, "Rate limits"). They run before the access rules, so that a refused token is
 * limited too: a request with a valid bearer token spends its actor's budgets (an admin's or a
 * service's are larger), any other its client address's. Reads (GET, HEAD) and writes have request
 * budgets of their own, content bytes a third, spent by the bytes that actually cross, whatever the
 * framing: a request body's as it arrives (lib/limits/bodyMeter.ts), a download's length before its
 * first byte, given back for what a client that went away was not sent (api/http/download.ts). Every
 * answer says the budgets (RateLimit-Policy) and what is left of those the request spent
 * (RateLimit), in the structured-field form of draft-ietf-httpapi-ratelimit-headers.
 */
import type { Request, RequestHandler, Response } from 'express';
import { actsForAnyOwner, type Actor } from '../../lib/auth/actor';
import { meterBody } from '../../lib/limits/bodyMeter';
import type { Budget, RateLimiter, Taken, Tier } from '../../lib/limits/rateLimiter';
import { createUploadStreams } from '../../lib/limits/uploadStreams';
import type { RateLimitConfig } from '../../lib/platform/config';
import { RateLimitedError } from '../../lib/platform/errors';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
// A stream lasts as long as its client takes: a short wait, then try again.
const STREAM_RETRY_SECONDS = 1;
const DOWNLOAD = /\/content\/?$/;
// JSON bodies are requests, bounded by the JSON parser: they spend content bytes as they arrive, but
// a spent budget does not refuse them.
const JSON_BODY = /^application\/([\w.-]+\+)?json\b/i;
// A part's body streams to the store whatever its Content-Type says: a JSON one is an upload too.
const PART = /^\/api\/v2\/uploads\/[^/]+\/parts\/[^/]+\/?$/;

/** The content budget of one request, for the handler that learns how many bytes it sends. */
export interface ContentBudget {
  /**
   * Takes a response's length before its first byte, while any of the budget is left (so concurrent
   * downloads spend at most the budget and one download more); throws the 429 otherwise. Answers
   * what gives back the bytes a client that went away was not sent.
   */
  reserve(bytes: number): Promise<(unsentBytes: number) => void>;
  /**
   * Takes bytes that will cross elsewhere (a presigned part URL's, PUT straight to the store) as a
   * body of that length here would spend them: refused (429) when they pass what is left.
   */
  take(bytes: number): Promise<void>;
}

export function contentBudgetOf(res: Response): ContentBudget | undefined {
  return res.locals.contentBudget as ContentBudget | undefined;
}

export function rateLimits(config: RateLimitConfig, limiter: RateLimiter, authenticateCaller: RequestHandler): RequestHandler {
  if (!config.enabled) return (_req, _res, next) => next();
  const policies: Record<Tier, string> = { standard: policyOf(config, 'standard'), privileged: policyOf(config, 'privileged') };
  const streams = createUploadStreams(config.uploadStreams);
  return (req, res, next) => {
    // Put on before anything awaits: the parser goes on pushing the body meanwhile.
    const caller = callerOf(req, res, authenticateCaller);
    if (hasBody(req)) meterBody(req, async (bytes) => spend(await caller, res, bytes));
    limit(req, res, caller)
      .then(() => next())
      .catch(next);
  };

  async function limit(req: Request, res: Response, caller: Promise<Caller>): Promise<void> {
    const { key, tier } = await caller;
    res.setHeader('RateLimit-Policy', policies[tier]);
    const budget: Budget = READS.has(req.method) ? 'reads' : 'writes';
    const upload = hasBody(req) && (!JSON_BODY.test(req.get('Content-Type') ?? '') || (req.method === 'PUT' && PART.test(req.path)));
    const download = req.method === 'GET' && DOWNLOAD.test(req.path);
    const [requests, content] = await Promise.all([limiter.take(tier, budget, key, 1), upload || download ? limiter.peek(tier, 'content', key) : undefined]);
    showState(res, budget, requests);
    // Bytes of the body may have been charged meanwhile: what is left after them is what is shown.
    if (content && !statesOf(res).content) showState(res, 'content', content);
    if (!requests.allowed) throw refusal(budget, requests);
    if (content && !content.allowed) throw refusal('content', content);
    if (upload) {
      const slot = streams.take(key);
      if ('refused' in slot) {
        const whose = slot.refused === 'caller' ? `${config.uploadStreams.perCaller} of yours` : `${config.uploadStreams.total} in all`;
        throw new RateLimitedError(`${whose} are streaming already: try again in ${STREAM_RETRY_SECONDS} s`, STREAM_RETRY_SECONDS, 'upload_streams');
      }
      // 'close' comes however the request ends: answered, refused, or its client gone.
      res.once('close', slot.release);
      if (res.closed) slot.release();
    }
    // A declared length that cannot fit what is left is refused before its body.
    const declared = Number(req.get('Content-Length'));
    if (content && upload && declared > content.remaining) throw tooLarge(declared, content);
    res.locals.contentBudget = {
      reserve: async (bytes) => {
        if (bytes === 0) return () => {};
        const reserved = await limiter.reserve(tier, 'content', key, bytes);
        showState(res, 'content', reserved);
        if (!reserved.allowed) throw refusal('content', reserved);
        return (unsent) => void reserved.refund(unsent).catch(() => {});
      },
      take: async (bytes) => {
        const left = await limiter.peek(tier, 'content', key);
        showState(res, 'content', left);
        if (bytes > left.remaining) throw tooLarge(bytes, left);
        const taken = await limiter.take(tier, 'content', key, bytes);
        showState(res, 'content', taken);
        if (!taken.allowed) throw refusal('content', taken);
      },
    } satisfies ContentBudget;
  }

  async function spend({ key, tier }: Caller, res: Response, bytes: number): Promise<RateLimitedError | undefined> {
    const taken = await limiter.take(tier, 'content', key, bytes);
    showState(res, 'content', taken);
    return taken.allowed ? undefined : refusal('content', taken);
  }
}

type Caller = { key: string; tier: Tier };

async function callerOf(req: Request, res: Response, authenticateCaller: RequestHandler): Promise<Caller> {
  if (req.get('Authorization')) {
    // A token that does not verify leaves no actor: the access rules answer it, and its address pays.
    await new Promise<void>((resolve) => void authenticateCaller(req, res, () => resolve()));
    const actor = res.locals.actor as Actor | undefined;
    if (actor) return { key: `actor:${actor.sub}`, tier: actsForAnyOwner(actor) ? 'privileged' : 'standard' };
  }
  return { key: `client:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`, tier: 'standard' };
}

function hasBody(req: Request): boolean {
  if (READS.has(req.method)) return false;
  return req.get('Transfer-Encoding') !== undefined || Number(req.get('Content-Length')) > 0;
}

/** What the request left of each budget it spent, by budget. */
function statesOf(res: Response): Partial<Record<Budget, string>> {
  return (res.locals.rateLimitStates ??= {});
}

/** Updates the RateLimit header, while it can still be sent, with what is left of a budget. */
function showState(res: Response, budget: Budget, taken: Taken): void {
  const states = statesOf(res);
  states[budget] = stateOf(budget, taken);
  if (!res.headersSent) res.setHeader('RateLimit', Object.values(states).join(', '));
}

function policyOf(config: RateLimitConfig, tier: Tier): string {
  const { reads, writes, content } = config[tier];
  const w = config.windowSeconds;
  return `"reads";q=${reads};w=${w}, "writes";q=${writes};w=${w}, "content";q=${content};qu="content-bytes";w=${w}`;
}

function stateOf(budget: Budget, taken: Taken): string {
  return `"${budget}";r=${taken.remaining};t=${taken.resetSeconds}`;
}

/** `bytes` that cannot fit what is left of the content budget, refused before any of them is taken. */
function tooLarge(bytes: number, left: Taken): RateLimitedError {
  return new RateLimitedError(
    `the body's ${bytes} bytes pass the ${left.remaining} content bytes left; try again in ${left.resetSeconds} s`,
    left.resetSeconds,
    'content',
  );
}

function refusal(budget: Budget, taken: Taken): RateLimitedError {
  const what = budget === 'content' ? 'content bytes' : budget;
  return new RateLimitedError(`over the rate limit for ${what}; try again in ${taken.resetSeconds} s`, taken.resetSeconds, budget);
}
