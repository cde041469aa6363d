/**
 * Which URLs service.asset.requested may fetch, by STORAGE_INGEST_ALLOWED_HOSTS: each entry is
 * `host:port`, or `host` alone for ports 80 and 443. A host whose address is loopback, private,
 * link-local or otherwise ours (lib/uploads/sourceAddresses.ts) is fetched only when its entry names
 * the port too: listing `127.0.0.1` does not open every service on the machine.
 */
import { refusedAddressOf } from './sourceAddresses';

const DEFAULT_PORTS = [80, 443];

interface AllowedSource {
  host: string;
  port?: number;
}

function allowedSourcesOf(entries: string[]): AllowedSource[] {
  return entries.map((entry) => {
    const [, host, port] = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    return { host, port: port === undefined ? undefined : Number(port) };
  });
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function listedWithPort(url: URL, allowedHosts: string[]): boolean {
  return allowedSourcesOf(allowedHosts).some((s) => s.host === url.hostname && s.port === portOf(url));
}

/**
 * Why `raw` may not be fetched, or undefined: only http(s), without credentials, on an allowed host
 * and port, and not a literal address of ours unless listed with its port. Checked when the request
 * arrives and again at every redirect; a host name's addresses are checked once resolved (addressProblem).
 */
export function sourceUrlProblem(raw: string, allowedHosts: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'it is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `only http and https URLs are fetched, not ${url.protocol}`;
  if (url.username || url.password) return 'URLs with credentials are not fetched';
  const port = portOf(url);
  const allowed = allowedSourcesOf(allowedHosts).some(
    (s) => s.host === url.hostname && (s.port === undefined ? DEFAULT_PORTS.includes(port) : s.port === port),
  );
  if (!allowed) return `${url.hostname}:${port} is not in STORAGE_INGEST_ALLOWED_HOSTS (a host listed without a port allows 80 and 443)`;
  return addressProblem(url, url.hostname, allowedHosts);
}

/** Why `url` may not be fetched from `address` (one its host resolved to, or is), or undefined. */
export function addressProblem(url: URL, address: string, allowedHosts: string[]): string | undefined {
  const refused = refusedAddressOf(address);
  if (!refused || listedWithPort(url, allowedHosts)) return undefined;
  const what = address === url.hostname ? `${url.hostname} is` : `${url.hostname} resolves to ${address},`;
  const reaching = refused.reaches ? ` (it reaches ${refused.reaches})` : '';
  return `${what} a ${refused.kind} address${reaching}: fetched only when STORAGE_INGEST_ALLOWED_HOSTS lists ${url.hostname}:${portOf(url)}`;
}

/**
 * The request's rule for a source URL as one regular expression, so that the OpenAPI document states
 * exactly what the API takes: http(s), an allowed host and port, no credentials, no white space. An
 * entry that allows nothing (an address of ours without its port) is left out; an empty allow-list
 * matches nothing.
 */
export function sourceUrlPattern(allowedHosts: string[]): string {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const origins = allowedSourcesOf(allowedHosts).flatMap(({ host, port }) => {
    const h = escape(host);
    if (port === undefined) return refusedAddressOf(host) ? [] : [`https?://${h}(?::(?:80|443))?`];
    // A URL may leave out its scheme's own port.
    const implied = port === 80 ? [`http://${h}`] : port === 443 ? [`https://${h}`] : [];
    return [`https?://${h}:${port}`, ...implied];
  });
  if (origins.length === 0) return '[^\\s\\S]';
  return `^(?:${origins.join('|')})(?:[/?#][^\\s]*)?$`;
}
