/**
 * The loopback load balancer of `npm start -- --replicas N`, the replica test and bench row 14: HTTP
 * requests go round-robin to the API processes whose `/health/ready` answers 200 (polled every
 * `pollMs`), bodies streamed both ways as they come. A backend that is draining (SIGTERM) answers 503
 * there and gets nothing new; one that refuses the connection, before anything was sent, is
 * skipped for the next. With no backend ready, every backend is tried in turn.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ProxyOptions {
  /** Base URLs of the API processes, e.g. http://127.0.0.1:8101. */
  backends: string[];
  port: number;
  host?: string;
  pollMs?: number;
}

export interface BackendState {
  url: string;
  ready: boolean;
  requests: number;
}

export interface RoundRobinProxy {
  url: string;
  backends(): BackendState[];
  close(): Promise<void>;
}

// Hop-by-hop: they describe one connection, not the request, and the proxy holds its own on each side.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']);

// Below the API's keep-alive timeout (65 s, api/server.ts): the proxy drops an idle socket before the
// API does, so it never sends a request on a socket the API is closing.
const IDLE_SOCKET_MS = 4_000;

interface Backend extends BackendState {
  host: string;
  port: number;
  agent: http.Agent;
}

function withoutHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name) && !named.includes(name)));
}

function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function problem(res: http.ServerResponse, status: number, detail: string) {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title: http.STATUS_CODES[status], status, detail }));
}

export async function startRoundRobinProxy(opts: ProxyOptions): Promise<RoundRobinProxy> {
  const pollMs = opts.pollMs ?? 250;
  const backends: Backend[] = opts.backends.map((base) => {
    const url = new URL(base);
    return {
      url: base,
      host: url.hostname,
      port: Number(url.port),
      ready: false,
      requests: 0,
      agent: new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    };
  });
  let next = 0;

  /** The backends to try for one request, in order: the ready ones from the next in turn, then (if none) all. */
  const candidates = (): Backend[] => {
    const start = next++ % backends.length;
    const ordered = backends.map((_, i) => backends[(start + i) % backends.length]);
    const ready = ordered.filter((b) => b.ready);
    return ready.length > 0 ? ready : ordered;
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, tries: Backend[], clientIp: string) => {
    const backend = tries[0];
    const forwardedFor = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${clientIp}` : clientIp;
    const upstream = http.request({
      host: backend.host,
      port: backend.port,
      method: req.method,
      path: req.url,
      agent: backend.agent,
      headers: { ...withoutHopByHop(req.headers), 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'http' },
    });
    const body = hasBody(req);
    let bodySent = false;
    let answered = false;
    upstream.on('socket', (socket: Socket) => {
      // The body is read only once the connection is there, so a refused one can go to the next backend whole.
      const send = () => {
        bodySent = true;
        if (body) req.pipe(upstream);
        else upstream.end();
      };
      if (socket.connecting) socket.once('connect', send);
      else send();
    });
    upstream.on('response', (answer) => {
      answered = true;
      backend.requests++;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (answered) return void res.destroy();
      const refused = err.code === 'ECONNREFUSED' && !bodySent;
      // A GET or HEAD with no body is safe to send again when a reused socket was reset before any answer.
      const resetIdempotent = err.code === 'ECONNRESET' && !body && (req.method === 'GET' || req.method === 'HEAD');
      if ((refused || resetIdempotent) && tries.length > 1 && !res.destroyed) {
        if (refused) backend.ready = false;
        return forward(req, res, tries.slice(1), clientIp);
      }
      problem(res, 502, `no API process answered: ${err.code ?? err.message}`);
    });
    // The client went away: so does the request upstream.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
  };

  const server = http.createServer((req, res) => forward(req, res, candidates(), req.socket.remoteAddress ?? ''));
  // Node's default: the proxy's clients (tests, the bench's replicas row) come back within it.
  server.keepAliveTimeout = 5_000;

  const probeAgent = new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
  const probe = (backend: Backend): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host: backend.host, port: backend.port, path: '/health/ready', agent: probeAgent, timeout: 2_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          backend.ready = res.statusCode === 200;
          resolve();
        });
        res.on('error', () => resolve());
      });
      // A busy backend is not a gone one: a slow answer keeps the state it had.
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.message !== 'timeout') backend.ready = false;
        resolve();
      });
    });
  let polling = true;
  const poll = async (backend: Backend) => {
    while (polling) {
      const started = Date.now();
      await probe(backend);
      await new Promise((r) => setTimeout(r, Math.max(0, pollMs - (Date.now() - started))));
    }
  };
  const polls = backends.map(poll);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    backends: () => backends.map(({ url, ready, requests }) => ({ url, ready, requests })),
    close: async () => {
      polling = false;
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      await Promise.all(polls);
      for (const b of backends) b.agent.destroy();
      probeAgent.destroy();
    },
  };
}
