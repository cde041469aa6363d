/**
 * Which dependency an unexpected error says is down, if any: api/http/problem.ts answers those 503
 * with Retry-After (a client may try again) instead of a 500 (a bug). Only what is certainly an
 * outage is classified; anything else stays a logged 500.
 */
import { isGrpcServiceError } from '@temporalio/client';
import { DependencyUnavailableError, type Dependency } from './errors';

/** What a client is told to wait before it asks again, per dependency: about what a restart takes. */
export const RETRY_AFTER_SECONDS: Record<Dependency, number> = { database: 3, object_store: 5, temporal: 3 };

// What Node's sockets fail with when no answer can come: no connection, or one lost.
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

// PostgreSQL's SQLSTATEs of a server going away or not yet there: shut down (57P01 admin, 57P02
// crash), starting up (57P03), and the connection exceptions (class 08).
const POSTGRES_GONE = /^(57P0[123]|08\d{3})$/;

// What node-postgres says of a connection lost under a query, or one its connect timeout gave up on.
// Not anchored: knex puts the statement first ("ROLLBACK - Client has encountered a connection error ...").
const POSTGRES_CONNECTION_LOST =
  /Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect/;

// Temporal's gRPC statuses of a server that is down (14, UNAVAILABLE) or did not answer in time (4,
// DEADLINE_EXCEEDED); grpc-js, which names them, is no dependency of the service's own.
const TEMPORAL_DOWN = new Set<number>([14, 4]);

interface ErrorShape {
  name?: string;
  code?: unknown;
  syscall?: string;
  message?: string;
  cause?: unknown;
  $metadata?: { httpStatusCode?: number };
  $fault?: string;
}

/** The error and its causes, outermost first (at most a few: a cause chain may loop). */
function causesOf(err: unknown): ErrorShape[] {
  const chain: ErrorShape[] = [];
  for (let e = err; e && typeof e === 'object' && chain.length < 5 && !chain.includes(e as ErrorShape); e = (e as ErrorShape).cause) {
    chain.push(e as ErrorShape);
  }
  return chain;
}

/** A Temporal call that failed because the server is down or did not answer (the SDK's ServiceError wraps the gRPC error). */
function isTemporalDown(e: ErrorShape): boolean {
  return isGrpcServiceError(e) && TEMPORAL_DOWN.has(e.code);
}

/** S3 answered with a server error (500, 502, 503 SlowDown, 504) after the SDK's own retries. */
function isObjectStoreFailing(e: ErrorShape): boolean {
  return (e.$metadata?.httpStatusCode ?? 0) >= 500 && typeof e.$fault === 'string';
}

/**
 * The database's connection failed: PostgreSQL's own codes, node-postgres's messages, or a socket
 * error of a connect (the pool's new connection) or a read (one lost). Knex passes these on as they are.
 */
function isDatabaseGone(e: ErrorShape): boolean {
  if (typeof e.code === 'string' && POSTGRES_GONE.test(e.code)) return true;
  if (typeof e.message === 'string' && POSTGRES_CONNECTION_LOST.test(e.message)) return true;
  return typeof e.code === 'string' && CONNECTION_CODES.has(e.code) && e.syscall !== undefined;
}

function dependencyOf(err: unknown): Dependency | undefined {
  const chain = causesOf(err);
  if (chain.some(isTemporalDown)) return 'temporal';
  if (chain.some(isObjectStoreFailing)) return 'object_store';
  // Only the error itself: a socket error deeper in a chain belongs to whatever wrapped it.
  if (chain.length > 0 && isDatabaseGone(chain[0])) return 'database';
  return undefined;
}

/** The 503 an error stands for when it says a dependency is down; undefined for anything else. */
export function unavailableDependency(err: unknown): DependencyUnavailableError | undefined {
  if (err instanceof DependencyUnavailableError) return err;
  const dependency = dependencyOf(err);
  return dependency && new DependencyUnavailableError(dependency, RETRY_AFTER_SECONDS[dependency], err);
}
