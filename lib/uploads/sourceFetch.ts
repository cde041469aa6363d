/**
 * Opens a source URL for service.asset.requested. The host is resolved here, every address it has is
 * checked (lib/uploads/sourceRules.ts), and the connection goes to those addresses only: the HTTP
 * client is given them as its lookup's answer, so a DNS answer that changes between the check and
 * the connection (rebinding) reaches nothing. The URL's own host is kept for the Host header and for
 * TLS (SNI, the certificate's name). Redirects are followed through the same checks, at most 5.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { systemLookup, type HostLookup, type ResolvedAddress } from './sourceAddresses';
import { redactedUrl } from '../platform/redactedUrls';
import { addressProblem, sourceUrlProblem } from './sourceRules';

const MAX_REDIRECTS = 5;

/** The source may not be fetched, or failed in a way no retry changes (a 4xx, TLS). */
export class SourceRefusedError extends Error {
  override name = 'SourceRefusedError';
}

/** The source failed in a way that may pass (a refused connection, a 5xx, a timeout). */
export class SourceUnavailableError extends Error {
  override name = 'SourceUnavailableError';
}

export interface SourceOptions {
  allowedHosts: string[];
  /** The longest wait for a connection and an answer, and the longest pause within the body. */
  timeoutMs: number;
  /** The longest the whole fetch may take, body included. */
  attemptMs: number;
  lookup?: HostLookup;
}

export interface OpenedSource {
  body: Readable;
  /** The Content-Length the source declared, if any. */
  declaredBytes?: number;
}

/** A TLS failure is the source's own and comes back on every try (a plain-HTTP port, a bad certificate). */
const TLS_FAILURE = /^(ERR_SSL_|ERR_TLS_)|CERT|^UNABLE_TO_/;

const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
};

export async function openSource(raw: string, options: SourceOptions): Promise<OpenedSource> {
  const deadline = AbortSignal.timeout(options.attemptMs);
  let current = raw;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const refused = (problem: string) =>
      new SourceRefusedError(hop === 0 ? problem : `redirected to ${redactedUrl(new URL(current))}, which may not be fetched: ${problem}`);
    const problem = sourceUrlProblem(current, options.allowedHosts);
    if (problem) throw refused(problem);
    const url = new URL(current);
    const addresses = await checkedAddressesOf(url, options, refused);
    const res = await get(url, addresses, options, deadline);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.destroy();
      const next = URL.parse(res.headers.location, url.href);
      if (!next) throw new SourceRefusedError(`fetching ${redactedUrl(url)} answered ${status} with a Location that is not a URL`);
      current = next.toString();
      continue;
    }
    if (status >= 200 && status < 300) {
      const declared = res.headers['content-length'];
      return { body: bodyOf(res, url), declaredBytes: declared === undefined ? undefined : Number(declared) };
    }
    res.destroy();
    const message = `fetching ${redactedUrl(url)} answered ${status}`;
    if (status >= 500 || status === 408 || status === 429) throw new SourceUnavailableError(message);
    throw new SourceRefusedError(message);
  }
  throw new SourceRefusedError(`more than ${MAX_REDIRECTS} redirects`);
}

/** The addresses to connect to: the URL's own, or all its host resolves to, once every one of them passes. */
async function checkedAddressesOf(url: URL, options: SourceOptions, refused: (problem: string) => Error): Promise<ResolvedAddress[]> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    // The system's resolver has no timeout of its own to rely on.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${options.timeoutMs / 1000} s`)), options.timeoutMs);
    });
    try {
      addresses = await Promise.race([(options.lookup ?? systemLookup)(host), timedOut]);
    } catch (err) {
      throw new SourceUnavailableError(`${host} could not be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (addresses.length === 0) throw new SourceUnavailableError(`${host} has no address`);
  for (const { address } of addresses) {
    const problem = addressProblem(url, address, options.allowedHosts);
    if (problem) throw refused(problem);
  }
  return addresses;
}

/**
 * One GET for `url`, to the checked addresses only: they are the client's whole lookup (all of them
 * when it tries one family after the other, as Node's does by default, else the first).
 */
function get(url: URL, addresses: ResolvedAddress[], options: SourceOptions, deadline: AbortSignal): Promise<http.IncomingMessage> {
  const pinned: LookupFunction = (_hostname, lookupOptions, callback) =>
    lookupOptions.all ? callback(null, addresses) : callback(null, addresses[0].address, addresses[0].family);
  return new Promise((resolve, reject) => {
    let answer: http.IncomingMessage | undefined;
    // After the head, a failure ends the body, whose reader reports it (bodyOf).
    const fail = (err: Error) => (answer ? answer.destroy(err) : req.destroy(err));
    const seconds = options.timeoutMs / 1000;
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      // No shared agent: a pooled socket could be one connected for another host.
      // What fetch() sent before, but the body as stored: no compression to undo.
      { agent: false, lookup: pinned, timeout: options.timeoutMs, headers: { accept: '*/*', 'accept-encoding': 'identity', 'user-agent': 'storage-service' } },
      (res) => {
        answer = res;
        resolve(res);
      },
    );
    req.on('timeout', () =>
      fail(
        new SourceUnavailableError(
          answer ? `${url.host} sent nothing for ${seconds} s` : `fetching ${redactedUrl(url)} failed: it did not answer within ${seconds} s`,
        ),
      ),
    );
    // Final: the next try would start from the first byte again, and take as long.
    const stop = () =>
      fail(new SourceRefusedError(`fetching ${redactedUrl(url)} took longer than ${options.attemptMs / 1000} s, the longest one attempt may take`));
    if (deadline.aborted) stop();
    deadline.addEventListener('abort', stop, { once: true });
    req.on('close', () => deadline.removeEventListener('abort', stop));
    req.on('error', (err) => reject(failureOf(err, url)));
    req.end();
  });
}

/** The body, whose every failure says what happened to the source. */
function bodyOf(res: http.IncomingMessage, url: URL): Readable {
  const body = Readable.from(
    (async function* () {
      try {
        for await (const chunk of res) yield chunk as Buffer;
      } catch (err) {
        if (err instanceof SourceUnavailableError || err instanceof SourceRefusedError) throw err;
        throw new SourceUnavailableError(`${url.host} stopped sending: ${failureOf(err, url).message}`);
      }
    })(),
    { objectMode: false },
  );
  // A body given up before it was read (over the declared limit) must not hold its connection open.
  return body.on('close', () => res.destroy());
}

/**
 * The TLS failure's code, if it is one. A handshake OpenSSL refuses while writing comes as EPROTO with
 * OpenSSL's reason in the message ("SSL routines:ssl3_get_record:wrong version number"): named as
 * Node names OpenSSL's other errors (ERR_SSL_WRONG_VERSION_NUMBER).
 */
function tlsFailureOf(err: NodeJS.ErrnoException): string | undefined {
  if (err.code && TLS_FAILURE.test(err.code)) return err.code;
  const reason = err.code === 'EPROTO' ? /SSL routines:[^:]*:([^:]+)/.exec(err.message)?.[1] : undefined;
  return reason ? `ERR_SSL_${reason.toUpperCase().replace(/\W+/g, '_')}` : undefined;
}

function failureOf(err: unknown, url: URL): Error {
  if (err instanceof SourceRefusedError || err instanceof SourceUnavailableError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const tls = tlsFailureOf(err as NodeJS.ErrnoException);
  if (tls) return new SourceRefusedError(`fetching ${redactedUrl(url)} failed in TLS (${tls})`);
  // An answer that is not HTTP, or past the client's bounds (headers over 16 KiB), is sent the same on every try.
  if (code.startsWith('HPE_')) return new SourceRefusedError(`fetching ${redactedUrl(url)} failed: its answer could not be read (${code})`);
  const what = NETWORK_FAILURES[code] ?? (err as Error).message;
  return new SourceUnavailableError(`fetching ${redactedUrl(url)} failed: ${what}${code ? ` (${code})` : ''}`);
}
