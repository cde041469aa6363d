/**
 * An HTTP proxy in front of the S3 endpoint that sees each request: it logs them (method, path, and
 * whether it is a server-side copy) and can hold the ones a rule picks, never passing them on, to
 * freeze a worker at a chosen point (say, after its tenth copy). Requests go through unchanged, Host
 * header included, so their signatures stay valid; unless a test rewrites them (rewriteRequests, which
 * signs them again) or rewrites the store's answers (rewriteAnswers), to play a store that behaves
 * otherwise: one that formats checksums its own way, or checks none.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ProxiedRequest {
  method: string;
  path: string;
  /** A CopyObject or UploadPartCopy (the request names a copy source). */
  copy: boolean;
  /** Its Range header: a GET of part of an object (the commit's read of the first bytes, for their type). */
  range: string | undefined;
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
  /** Rewrites the answer (read whole first) of every request `picks` says true for; undefined stops. */
  rewriteAnswers(picks?: (req: ProxiedRequest) => boolean, rewrite?: (answer: ProxiedAnswer) => ProxiedAnswer): void;
  /**
   * Gives the requests `picks` says true for the headers `change` makes of theirs, signed again (SigV4,
   * the body's hash header kept) with `credentials`; undefined stops.
   */
  rewriteRequests(picks?: (req: ProxiedRequest) => boolean, change?: (headers: IncomingHttpHeaders) => IncomingHttpHeaders, credentials?: S3Credentials): void;
  close(): Promise<void>;
}

/** An answer of the store as rewriteAnswers sees it. */
export interface ProxiedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

interface RequestRewrite {
  picks: (req: ProxiedRequest) => boolean;
  change: (headers: IncomingHttpHeaders) => IncomingHttpHeaders;
  credentials: S3Credentials;
}

interface AnswerRewrite {
  picks: (req: ProxiedRequest) => boolean;
  rewrite: (answer: ProxiedAnswer) => ProxiedAnswer;
}

export async function startS3Proxy(target: string): Promise<S3Proxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  let rule: ((req: ProxiedRequest, log: ProxiedRequest[]) => boolean) | undefined;
  let waiting: Array<() => void> = [];
  let inFlight = 0;
  let requestRewrite: RequestRewrite | undefined;
  let answerRewrite: AnswerRewrite | undefined;
  const agent = new http.Agent({ keepAlive: true });

  const forward = async (req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest) => {
    inFlight++;
    let ended = false;
    const end = () => {
      if (!ended) inFlight--;
      ended = true;
    };
    res.on('close', end);
    const rewritesRequest = requestRewrite?.picks(entry) ? requestRewrite : undefined;
    const headers = rewritesRequest ? await signedAgain(req, rewritesRequest) : req.headers;
    const rewritesAnswer = answerRewrite?.picks(entry) ? answerRewrite : undefined;
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      if (rewritesAnswer) return void sendRewritten(answer, res, rewritesAnswer.rewrite);
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
      range: req.headers.range,
      authorization: req.headers.authorization?.split(' ')[0],
      held: false,
    };
    entry.held = rule ? rule(entry, requests) : false;
    requests.push(entry);
    if (entry.held) {
      req.pause();
      waiting.push(() => {
        req.resume();
        void forward(req, res, entry);
      });
      return;
    }
    void forward(req, res, entry);
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
    rewriteAnswers: (picks, rewrite) => {
      answerRewrite = picks && rewrite ? { picks, rewrite } : undefined;
    },
    rewriteRequests: (picks, change, credentials) => {
      requestRewrite = picks && change && credentials ? { picks, change, credentials } : undefined;
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

/** Reads the store's answer whole and sends what `rewrite` makes of it (its length fixed when its body changed). */
function sendRewritten(answer: IncomingMessage, res: ServerResponse, rewrite: (answer: ProxiedAnswer) => ProxiedAnswer): void {
  const chunks: Buffer[] = [];
  answer.on('data', (chunk: Buffer) => chunks.push(chunk));
  answer.on('error', () => res.destroy());
  answer.on('end', () => {
    const original: ProxiedAnswer = { status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) };
    const changed = rewrite(original);
    const headers = { ...changed.headers };
    if (changed.body !== original.body) {
      delete headers['transfer-encoding'];
      headers['content-length'] = String(changed.body.length);
    }
    res.writeHead(changed.status, headers).end(changed.body);
  });
}

/** The request's headers as `rewrite` changes them, signed again with SigV4 for the region its own signature named. */
async function signedAgain(req: IncomingMessage, rewrite: RequestRewrite): Promise<IncomingHttpHeaders> {
  const region = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'us-east-1';
  const url = new URL(req.url ?? '/', 'http://proxy');
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(rewrite.change(req.headers))) {
    if (value !== undefined && key !== 'authorization' && key !== 'x-amz-date') headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  const signer = new SignatureV4({ credentials: rewrite.credentials, region, service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  // The body is not read: its hash is the x-amz-content-sha256 header the client sent (UNSIGNED-PAYLOAD for a streamed part).
  const signed = await signer.sign({ method: req.method ?? 'GET', protocol: 'http:', hostname: url.hostname, path: url.pathname, query, headers });
  return signed.headers;
}

/** SHA-256 and HMAC-SHA256 from node:crypto, as the signer asks for them. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = typeof secret === 'string' || secret === undefined ? secret : Buffer.from(secret as ArrayBuffer);
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}
