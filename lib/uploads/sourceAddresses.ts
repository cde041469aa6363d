import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * The service's own network, which a source named by another service must not reach unless the
 * allow-list names the host with its port: what a request to it would reach is ours, not theirs.
 * A BlockList matches an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) against the IPv4 ranges.
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
];

const REFUSED = REFUSED_RANGES.map(([kind, subnets]) => {
  const list = new BlockList();
  for (const [network, prefix] of subnets) list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return { kind, list };
});

/** What kind of refused address `address` is (`loopback`, `private`…), or undefined for one a source may have. */
export function refusedKindOf(address: string): string | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return undefined;
  return REFUSED.find(({ list }) => list.check(bare, family === 6 ? 'ipv6' : 'ipv4'))?.kind;
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to. */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** The system's resolver (hosts file included), as a connection would use it. */
export const systemLookup: HostLookup = (hostname) => lookup(hostname, { all: true, verbatim: true });
