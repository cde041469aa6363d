import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * The service's own network, which a source named by another service must not reach unless the
 * allow-list names the host with its port: what a request to it would reach is ours, not theirs.
 */
const REFUSED_RANGES: Array<[kind: string, subnets: Array<[network: string, prefix: number]>]> = [
  [
    'loopback',
    [
      ['127.0.0.0', 8],
      ['::1', 128],
    ],
  ],
  [
    'private',
    [
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
      ['fc00::', 7],
      // Site-local: deprecated, but still routed inside some networks.
      ['fec0::', 10],
    ],
  ],
  [
    'link-local',
    [
      ['169.254.0.0', 16],
      ['fe80::', 10],
    ],
  ],
  [
    'unspecified',
    [
      ['0.0.0.0', 8],
      ['::', 128],
    ],
  ],
  ['shared (carrier-grade NAT)', [['100.64.0.0', 10]]],
  [
    'multicast',
    [
      ['224.0.0.0', 4],
      ['ff00::', 8],
    ],
  ],
  // 240.0.0.0/4 and the broadcast address: no host of anyone else's is there.
  ['reserved', [['240.0.0.0', 4]]],
  // A NAT64 prefix of the operator's own (RFC 8215): where it puts the IPv4 address depends on its length, so none of it is a source.
  ['local-use NAT64', [['64:ff9b:1::', 48]]],
];

const REFUSED = REFUSED_RANGES.map(([kind, subnets]) => {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return { kind, list };
});

/**
 * The IPv4 address an IPv6 one reaches, for the forms that carry one: IPv4-mapped (::ffff:0:0/96),
 * IPv4-translated (::ffff:0:0:0/96, SIIT), IPv4-compatible (::/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16, bits 16..47) and Teredo
 * (2001::/32, the client's address inverted in the last 32 bits). A connection to any of them can
 * end at that IPv4 address, so it is checked as if it had been named.
 */
function embeddedIpv4Of(address: string): string | undefined {
  const words = wordsOf(address);
  const ipv4 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  if (zero(0, 5) && words[5] === 0xffff) return ipv4(words[6], words[7]);
  if (zero(0, 4) && words[4] === 0xffff && words[5] === 0) return ipv4(words[6], words[7]);
  if (zero(0, 6)) return ipv4(words[6], words[7]);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return ipv4(words[6], words[7]);
  if (words[0] === 0x2002) return ipv4(words[1], words[2]);
  if (words[0] === 0x2001 && words[1] === 0) return ipv4(words[6] ^ 0xffff, words[7] ^ 0xffff);
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (one isIP takes: `::` and a dotted tail allowed). */
function wordsOf(address: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const hex = dotted
    ? address.slice(0, dotted.index) + [((+dotted[1] << 8) | +dotted[2]).toString(16), ((+dotted[3] << 8) | +dotted[4]).toString(16)].join(':')
    : address;
  const [head, tail] = hex.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const [before, after] = [parse(head), parse(tail)];
  return tail === undefined ? before : [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}

const kindOf = (address: string, family: 'ipv4' | 'ipv6') => REFUSED.find(({ list }) => list.check(address, family))?.kind;

export interface RefusedAddress {
  /** `loopback`, `private`… */
  kind: string;
  /** The IPv4 address an IPv6 one reaches, when that is what made it refused. */
  reaches?: string;
}

/** Why `address` may not be a source's, or undefined for one that may be. */
export function refusedAddressOf(address: string): RefusedAddress | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return undefined;
  const own = kindOf(bare, family === 6 ? 'ipv6' : 'ipv4');
  if (own) return { kind: own };
  const reaches = family === 6 ? embeddedIpv4Of(bare) : undefined;
  const kind = reaches === undefined ? undefined : kindOf(reaches, 'ipv4');
  return kind ? { kind, reaches } : undefined;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to. */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system's resolver (hosts file included), as a connection would use it. */
export const systemLookup: HostLookup = (hostname) => lookup(hostname, { all: true, verbatim: true });
