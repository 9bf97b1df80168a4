/**
 * IP addresses and ranges for the outbound guard: which addresses a delivery may never reach
 * (loopback, private, link-local, CGNAT, metadata, documentation, multicast, reserved), and
 * the CIDR ranges an operator lets through. Addresses are numbers (128 bits for IPv6), so an
 * address is judged the same whatever its spelling.
 */
import { parseIpv4, parseIpv6 } from '../../net/ip-rules.ts';

export interface IpAddress {
  readonly family: 4 | 6;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly bits: number;
}

const WIDTH = { 4: 32, 6: 128 } as const;

/**
 * A dotted-quad IPv4 or an IPv6 address (brackets allowed, as in a URL's hostname).
 *
 * @example
 * ```ts
 * parseIp('[::1]'); // { family: 6, value: 1n }
 * parseIp('hooks.example.com'); // undefined
 * ```
 */
export function parseIp(text: string): IpAddress | undefined {
  const ipv4 = parseIpv4(text);
  if (ipv4 !== undefined) return { family: 4, value: BigInt(ipv4) };
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const ipv6 = parseIpv6(bare);
  return ipv6 === undefined ? undefined : { family: 6, value: ipv6 };
}

/** The usual spelling: dotted quad, or IPv6 as the URL parser writes it (no brackets). */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((ip.value >> shift) & 0xffn)).join('.');
  }
  const groups = [...Array(8).keys()].map((index) =>
    ((ip.value >> BigInt(112 - 16 * index)) & 0xffffn).toString(16)
  );
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * `10.0.0.0/8`, `fd00::/8`, or a bare address (a range of one). Host bits are ignored, as
 * in the USSD allow-list. Undefined when `text` is none of those.
 */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefix, ...extra] = text.trim().split('/');
  const ip = parseIp(address);
  if (ip === undefined || extra.length > 0) return undefined;
  const width = WIDTH[ip.family];
  const bits = prefix === undefined ? width : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= width)) return undefined;
  return { family: ip.family, network: ip.value & mask(ip.family, bits), bits };
}

export function inCidr(ip: IpAddress, cidr: Cidr): boolean {
  return ip.family === cidr.family && (ip.value & mask(ip.family, cidr.bits)) === cidr.network;
}

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d on a dual-stack socket: judged and dialled as such. */
export function unwrapMapped(ip: IpAddress): IpAddress {
  return ip.family === 6 && ip.value >> 32n === 0xffffn
    ? { family: 4, value: ip.value & 0xffffffffn }
    : ip;
}

function mask(family: 4 | 6, bits: number): bigint {
  const width = BigInt(WIDTH[family]);
  return ((1n << width) - 1n) ^ ((1n << (width - BigInt(bits))) - 1n);
}

interface Range {
  readonly cidr: Cidr;
  readonly label: string;
  /** Ranges that carry an IPv4 address: the address inside is judged instead. */
  readonly embedded?: (value: bigint) => bigint;
}

function range(text: string, label: string, embedded?: (value: bigint) => bigint): Range {
  const cidr = parseCidr(text);
  if (cidr === undefined) throw new TypeError(`bad range ${text}`);
  return embedded === undefined ? { cidr, label } : { cidr, label, embedded };
}

const low32 = (value: bigint) => value & 0xffffffffn;

const IPV4_BLOCKED: readonly Range[] = [
  range('169.254.169.254/32', 'cloud metadata'),
  range('0.0.0.0/8', '"this network"'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'CGNAT (shared address space)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', '6to4 relay anycast'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
];

// Order matters: the first range that holds the address names it.
const IPV6_BLOCKED: readonly Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'IPv4-mapped', low32),
  range('::ffff:0:0:0/96', 'IPv4-translated', low32),
  range('::/96', 'IPv4-compatible', low32),
  range('64:ff9b::/96', 'NAT64', low32),
  range('64:ff9b:1::/48', 'local-use NAT64'),
  range('100::/64', 'discard-only'),
  range('2001::/23', 'IETF protocol assignments (Teredo included)'),
  range('2001:db8::/32', 'documentation'),
  range('2002::/16', '6to4', (value) => (value >> 80n) & 0xffffffffn),
  range('3fff::/20', 'documentation'),
  range('fc00::/7', 'unique local (private)'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
];
// Only 2000::/3 is handed out for global unicast; the rest of the IPv6 space is reserved.
const GLOBAL_UNICAST = range('2000::/3', 'global unicast');

/**
 * Why `ip` may not be reached (e.g. `loopback`, `IPv4-mapped loopback`), or undefined when
 * it is a public address.
 *
 * @example
 * ```ts
 * blockedRange(parseIp('::ffff:127.0.0.1')!); // 'IPv4-mapped loopback'
 * blockedRange(parseIp('93.184.215.14')!); // undefined
 * ```
 */
export function blockedRange(ip: IpAddress): string | undefined {
  if (ip.family === 4) return IPV4_BLOCKED.find(({ cidr }) => inCidr(ip, cidr))?.label;
  const found = IPV6_BLOCKED.find(({ cidr }) => inCidr(ip, cidr));
  if (found === undefined) return inCidr(ip, GLOBAL_UNICAST.cidr) ? undefined : 'reserved';
  if (found.embedded === undefined) return found.label;
  const inner = blockedRange({ family: 4, value: found.embedded(ip.value) });
  return inner === undefined ? undefined : `${found.label} ${inner}`;
}
