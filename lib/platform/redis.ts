import { Redis } from 'ioredis';

/**
 * The Redis client of a process. A command fails at once while the connection is down (no offline
 * queue, no retry of the command), and within half a second when Redis hangs, which also drops the
 * connection, so that what comes next does not wait: what uses the client falls back instead. The
 * connection itself keeps being retried, at most every 2 s.
 */
export function createRedisClient(url: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 500,
    socketTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    // The commands of one event-loop turn (every request's budget, under load) go out in one write.
    enableAutoPipelining: true,
  });
  // Each failed connection attempt is an 'error' event; health reports the state instead.
  redis.on('error', () => {});
  return redis;
}
