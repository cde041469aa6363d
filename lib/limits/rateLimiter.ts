/**
 * The budgets of rate-limiter-flexible behind the API: on Redis when there is one (every replica
 * shares a budget), each with an in-memory twin that takes over while Redis is not ready, without a
 * round-trip to find out (rejectIfRedisNotReady).
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitBudgets, RateLimitConfig } from '../platform/config';

export type Budget = keyof RateLimitBudgets;
export type Tier = 'standard' | 'privileged';

export interface Taken {
  allowed: boolean;
  remaining: number;
  /** Seconds until the window ends and the budget is whole again. */
  resetSeconds: number;
}

/** Points taken ahead of their use, some of which may come back. */
export interface Reserved extends Taken {
  /** Gives back points not used after all, unless the window that took them has ended meanwhile. */
  refund(points: number): Promise<void>;
}

export interface RateLimiter {
  /** Takes `points` from a budget: not allowed once that spends more than the window holds (the points stay taken). */
  take(tier: Tier, budget: Budget, key: string, points: number): Promise<Taken>;
  /** What is left, taking nothing: the content budget before a download whose size is not known yet. */
  peek(tier: Tier, budget: Budget, key: string): Promise<Taken>;
  /**
   * Takes `points` while any of the budget is left before them: one request may cross the budget (a
   * download larger than what is left), no later one. Not allowed, it takes nothing.
   */
  reserve(tier: Tier, budget: Budget, key: string, points: number): Promise<Reserved>;
}

const BUDGETS: Budget[] = ['reads', 'writes', 'content'];

export function createRateLimiter(config: RateLimitConfig, redis?: Redis): RateLimiter {
  const limiters = {} as Record<Tier, Record<Budget, RateLimiterAbstract>>;
  for (const tier of ['standard', 'privileged'] as Tier[]) {
    limiters[tier] = {} as Record<Budget, RateLimiterAbstract>;
    for (const budget of BUDGETS) {
      const opts = { points: config[tier][budget], duration: config.windowSeconds, keyPrefix: `${config.keyPrefix}:rl:${tier}:${budget}` };
      const memory = new RateLimiterMemory(opts);
      limiters[tier][budget] = redis ? new RateLimiterRedis({ ...opts, storeClient: redis, rejectIfRedisNotReady: true, insuranceLimiter: memory }) : memory;
    }
  }
  const windowMs = config.windowSeconds * 1000;
  const takenOf = (res: RateLimiterRes | null, allowed: boolean, points: number): Taken => ({
    allowed,
    remaining: res ? res.remainingPoints : points,
    resetSeconds: Math.ceil((res && res.msBeforeNext >= 0 ? res.msBeforeNext : windowMs) / 1000),
  });
  // consume() adds the points whether it allows them or not, and answers the count either way.
  const consume = async (limiter: RateLimiterAbstract, key: string, points: number): Promise<RateLimiterRes> => {
    try {
      return await limiter.consume(key, points);
    } catch (err) {
      if (err instanceof RateLimiterRes) return err;
      throw err;
    }
  };
  return {
    async take(tier, budget, key, points) {
      const res = await consume(limiters[tier][budget], key, points);
      return takenOf(res, res.consumedPoints <= config[tier][budget], 0);
    },
    async peek(tier, budget, key) {
      const res = await limiters[tier][budget].get(key);
      return takenOf(res, !res || res.remainingPoints > 0, config[tier][budget]);
    },
    async reserve(tier, budget, key, points) {
      const limiter = limiters[tier][budget];
      const res = await consume(limiter, key, points);
      const allowed = res.consumedPoints - points < config[tier][budget];
      if (!allowed) await limiter.reward(key, points);
      const windowEnds = Date.now() + res.msBeforeNext;
      return {
        ...takenOf(res, allowed, 0),
        async refund(unused) {
          if (unused > 0 && Date.now() < windowEnds) await limiter.reward(key, unused);
        },
      };
    },
  };
}
