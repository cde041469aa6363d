import { AsyncLocalStorage } from 'node:async_hooks';
import http from 'node:http';
import { loadConfigOrExit } from '../lib/platform/config';
import { waitAtMost } from '../lib/platform/concurrency';
import { createServiceDb, exitOnRefusedRole } from '../lib/platform/db';
import { exitOnFatal } from '../lib/platform/fatal';
import { createLogger } from '../lib/platform/logger';
import { API_S3_ANSWER_WITHIN_MS, createS3Client } from '../lib/platform/s3Client';
import { createRedisClient } from '../lib/platform/redis';
import { createTemporalClient } from '../lib/platform/temporal';
import { buildApp, type App } from './app';
import { answerClientErrors } from './http/clientErrors';
import type { Drain } from './http/drain';

const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** The HTTP server of the app, and the answers it has under way (a drain waits for them). */
function serve(app: App, requestTimeoutMs: number, drain: Drain, answering: AsyncLocalStorage<http.ServerResponse>) {
  const inFlight = new Set<http.ServerResponse>();
  const server = http.createServer(
    {
      // A body that stalls (or trickles) holds its request at most this long: then 408 (api/http/clientErrors.ts).
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(requestTimeoutMs / 4)),
    },
    (req, res) => {
      // Set on the connection's own async resource, so its body's events (which run there, not
      // under this call) see it too; the next request on the connection sets its own.
      answering.enterWith(res);
      // Once draining, every answer ends its connection, so no client keeps a socket this process is about to close.
      if (drain.draining) res.setHeader('connection', 'close');
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
      app(req, res);
    },
  );
  // Node's default is 5 s, and a client reuses an idle socket until just before the timeout the
  // server announces (Keep-Alive: timeout=…): one that is slow to send its next request (a busy
  // service, its retries after Retry-After) writes it as the server closes the socket, and sees a
  // broken pipe, not an answer. Past the idle timeouts of common load balancers (60 s), so the one in
  // front closes first.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  answerClientErrors(server, requestTimeoutMs);
  return { server, inFlight };
}

async function main() {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel, { service: config.serviceName, component: 'api' });
  // The answer of the request whose callbacks run now: a fatal line names its X-Request-Id.
  const answering = new AsyncLocalStorage<http.ServerResponse>();
  exitOnFatal(logger, () => ({ request_id: answering.getStore()?.getHeader('X-Request-Id') }));
  const db = createServiceDb(config.database);
  await exitOnRefusedRole(db, config.database);
  const s3 = createS3Client(config.s3, { answerWithinMs: API_S3_ANSWER_WITHIN_MS });
  const temporal = createTemporalClient(config.temporal);
  const redis = config.redisUrl ? createRedisClient(config.redisUrl) : undefined;
  const drain: Drain = { draining: false };
  const app = buildApp({ config, db, s3, temporal, logger, redis }, drain);
  const { server, inFlight } = serve(app, config.http.requestTimeoutMs, drain, answering);
  server.listen(config.http.port, config.http.host, () => {
    logger.info('api listening', { url: `http://${config.http.host}:${config.http.port}` });
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const { drainMs, graceMs } = config.http;
    logger.info('api draining', { signal, drain_ms: drainMs, grace_ms: graceMs, in_flight: inFlight.size });
    drain.draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    const grace = setTimeout(() => {
      logger.warn('api grace period over: closing the connections still open', { in_flight: inFlight.size });
      server.closeAllConnections();
    }, drainMs + graceMs);
    // Still serving while the load balancer's next readiness poll sees the 503 and stops sending here.
    await new Promise((resolve) => setTimeout(resolve, drainMs));
    const closed = new Promise((resolve) => server.close(resolve));
    // A keep-alive connection whose answer was already under way when the drain began goes once it is idle.
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    await closed;
    clearInterval(idle);
    clearTimeout(grace);
    logger.info('api stopping', { signal });
    // The audit rows of the last answers (refusals are folded a moment after theirs), while the pool is there.
    if (!(await waitAtMost(app.settle(), graceMs))) logger.warn('api stopping without the audit rows still being written', { grace_ms: graceMs });
    await temporal.close().catch(() => {});
    await db.destroy();
    s3.destroy();
    redis?.disconnect();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`api failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
