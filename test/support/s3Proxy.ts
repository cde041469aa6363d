/**
 * An HTTP proxy in front of the S3 endpoint that sees each request: it logs them (method, path, and
 * whether it is a server-side copy) and can hold the ones a rule picks, never passing them on, to
 * freeze a worker at a chosen point (say, after its tenth copy). Requests go through unchanged, Host
 * header included, so their signatures stay valid.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** A CopyObject or UploadPartCopy (the request names a copy source). */
  copy: boolean;
  /** The scheme of its Authorization header (AWS4-HMAC-SHA256 from an S3 client), if it has one. */
  authorization: string | undefined;
  held: boolean;
}

export interface S3Proxy {
  url: string;
  requests: ProxiedRequest[];
  /** Copy requests passed on to S3. */
  copies(): number;
  held(): number;
  /** Requests passed on whose answer has not ended yet. */
  inFlight(): number;
  /** Holds every request for which `rule` says true (evaluated in arrival order). */
  hold(rule: (req: ProxiedRequest, log: ProxiedRequest[]) => boolean): void;
  /** Passes the held requests on and holds nothing more. */
  release(): void;
  close(): Promise<void>;
}

export async function startS3Proxy(target: string): Promise<S3Proxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let rule: ((req: ProxiedRequest, log: ProxiedRequest[]) => boolean) | undefined;
  let waiting: Array<() => void> = [];
  let inFlight = 0;
  const agent = new http.Agent({ keepAlive: true });

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    let ended = false;
    const end = () => {
      if (!ended) inFlight--;
      ended = true;
    };
    res.on('close', end);
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  };

  const server = http.createServer((req, res) => {
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      copy: req.headers['x-amz-copy-source'] !== undefined,
      authorization: req.headers.authorization?.split(' ')[0],
      held: false,
    };
    entry.held = rule ? rule(entry, requests) : false;
    requests.push(entry);
    if (entry.held) {
      req.pause();
      waiting.push(() => {
        req.resume();
        forward(req, res);
      });
      return;
    }
    forward(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    copies: () => requests.filter((r) => r.copy && !r.held).length,
    held: () => requests.filter((r) => r.held).length,
    inFlight: () => inFlight,
    hold: (r) => {
      rule = r;
    },
    release: () => {
      rule = undefined;
      const go = waiting;
      waiting = [];
      for (const f of go) f();
    },
    close: async () => {
      waiting = [];
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}

/** A rule: hold every copy after the first `n` that were passed on. */
export function copiesAfter(n: number) {
  return (req: ProxiedRequest, log: ProxiedRequest[]) => req.copy && log.filter((r) => r.copy && !r.held).length >= n;
}
