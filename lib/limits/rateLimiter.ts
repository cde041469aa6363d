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

export interface RateLimiter {
  /** Takes `points` from a budget: not allowed once that spends more than the window holds. */
  take(tier: Tier, budget: Budget, key: string, points: number): Promise<Taken>;
  /** What is left, taking nothing: the content budget before a download whose size is not known yet. */
  peek(tier: Tier, budget: Budget, key: string): Promise<Taken>;
  /** Takes points already spent (the bytes of a download), even past zero. */
  charge(tier: Tier, budget: Budget, key: string, points: number): Promise<void>;
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
  return {
    async take(tier, budget, key, points) {
      try {
        return takenOf(await limiters[tier][budget].consume(key, points), true, 0);
      } catch (err) {
        if (err instanceof RateLimiterRes) return takenOf(err, false, 0);
        throw err;
      }
    },
    async peek(tier, budget, key) {
      const res = await limiters[tier][budget].get(key);
      return takenOf(res, !res || res.remainingPoints > 0, config[tier][budget]);
    },
    async charge(tier, budget, key, points) {
      await limiters[tier][budget].penalty(key, points);
    },
  };
}
