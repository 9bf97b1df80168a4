/**
 * Source-address rules (the USSD gate's allow-list): IPv4 addresses, IPv4 CIDR ranges and IPv6
 * addresses, parsed once (a typo fails at start, not as a silent never-match) and matched
 * against the client address the platform's proxy reports.
 */

export type IpRule =
  | { readonly kind: 'ipv4'; readonly network: number; readonly mask: number }
  | { readonly kind: 'ipv6'; readonly address: string };

/**
 * Parses one configured entry: `196.201.214.10`, `196.201.214.0/24` or `2001:db8::10`.
 * Throws `TypeError` naming the entry when it is none of those.
 *
 * @example
 * ```ts
 * const rule = parseIpRule('196.201.214.0/24');
 * ipMatches(rule, '196.201.214.7'); // true
 * parseIpRule('196.201.214.0/33'); // throws TypeError
 * ```
 */
export function parseIpRule(entry: string): IpRule {
  const text = entry.trim();
  const [address = '', prefix, ...extra] = text.split('/');
  const ipv4 = parseIpv4(address);
  if (ipv4 !== undefined && extra.length === 0) {
    const bits = prefix === undefined ? 32 : /^\d{1,2}$/.test(prefix) ? Number(prefix) : Number.NaN;
    if (bits >= 0 && bits <= 32) {
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      return { kind: 'ipv4', network: (ipv4 & mask) >>> 0, mask };
    }
  }
  const ipv6 = prefix === undefined ? canonicalIpv6(text) : undefined;
  if (ipv6 !== undefined) return { kind: 'ipv6', address: ipv6 };
  throw new TypeError(`"${entry}" is not an IPv4 address, IPv4 CIDR or IPv6 address`);
}

/** Whether `clientIp` (as reported by the proxy) falls under `rule`. */
export function ipMatches(rule: IpRule, clientIp: string): boolean {
  // Dual-stack listeners report IPv4 clients as IPv4-mapped IPv6 (::ffff:196.201.214.10).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(clientIp)?.[1];
  if (rule.kind === 'ipv4') {
    const ipv4 = parseIpv4(mapped ?? clientIp);
    return ipv4 !== undefined && ((ipv4 & rule.mask) >>> 0) === rule.network;
  }
  return mapped === undefined && canonicalIpv6(clientIp) === rule.address;
}

/** Dotted quad to a 32-bit number; leading zeros are refused (some parsers read them as octal). */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^(?:0|[1-9]\d{0,2})$/.test(part))) {
    return undefined;
  }
  const octets = parts.map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

/**
 * An IPv6 address (any spelling the URL parser accepts, embedded dotted quad included) to its
 * 128-bit value; undefined when `text` is no IPv6 address (zone ids such as `%eth0` included).
 *
 * @example
 * ```ts
 * parseIpv6('::ffff:127.0.0.1'); // 0xffff7f000001n
 * parseIpv6('example.com'); // undefined
 * ```
 */
export function parseIpv6(text: string): bigint | undefined {
  const canonical = canonicalIpv6(text);
  if (canonical === undefined) return undefined;
  // The canonical form is hex groups only, with at most one `::` standing for the zero groups.
  const [head = '', tail] = canonical.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined
    ? left
    : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

/** One spelling per IPv6 address (RFC 5952, as the URL parser writes hosts), or undefined. */
function canonicalIpv6(text: string): string | undefined {
  if (!text.includes(':') || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}
