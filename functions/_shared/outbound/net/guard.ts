/**
 * The SSRF guard: decides whether a delivery may go to an operator-registered URL, and to
 * which single address. The name is resolved once, every address it resolves to is judged,
 * and the checked address is the one the request connects to (see pinned.ts), so a DNS answer
 * that changes between the check and the connection (rebinding) cannot redirect it.
 */
import { lookup } from 'node:dns/promises';
import { OutboundRefused } from './errors.ts';
import {
  blockedRange,
  type Cidr,
  formatIp,
  inCidr,
  type IpAddress,
  parseCidr,
  parseIp,
  unwrapMapped,
} from './ranges.ts';

/** Every address `hostname` resolves to (IPv4 and IPv6), as text. */
export type Resolver = (hostname: string) => Promise<readonly string[]>;

/** The platform's resolver (getaddrinfo under Node and Deno: /etc/hosts included). */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map(({ address }) => address);

export const DEFAULT_RESOLVE_TIMEOUT_MS = 5_000;

export interface OutboundPolicyOptions {
  /** Plain http to any target (development). Otherwise https only, allow-listed targets aside. */
  readonly allowHttp: boolean;
  /**
   * Targets let through the checks, over http too: hostnames (exact, case-insensitive), IP
   * addresses and CIDR ranges (`127.0.0.1/32`, `10.20.0.0/16`, `fd00::/8`).
   */
  readonly allowedTargets?: readonly string[];
  /** Looks names up; {@link systemResolver} unless given (tests inject their own). */
  readonly resolver?: Resolver;
  /** How long a lookup may take before the target counts as unresolvable. */
  readonly resolveTimeoutMs?: number;
}

export interface OutboundPolicy {
  readonly allowHttp: boolean;
  readonly allowedHosts: ReadonlySet<string>;
  readonly allowedRanges: readonly Cidr[];
  readonly resolver: Resolver;
  readonly resolveTimeoutMs: number;
}

/** A URL the guard accepted, and the one checked address to connect to. */
export interface ResolvedTarget {
  readonly url: URL;
  /** IPv4 dotted quad or IPv6 (no brackets); an IPv4-mapped answer is given as its IPv4. */
  readonly address: string;
  readonly family: 4 | 6;
}

const HOSTNAME =
  /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Builds a policy, parsing the allow-list once: an entry that is neither a hostname nor an
 * IP/CIDR throws `TypeError` naming it.
 *
 * @example
 * ```ts
 * const policy = createOutboundPolicy({ allowHttp: false, allowedTargets: ['127.0.0.1/32'] });
 * ```
 */
export function createOutboundPolicy(options: OutboundPolicyOptions): OutboundPolicy {
  const allowedHosts = new Set<string>();
  const allowedRanges: Cidr[] = [];
  for (const entry of options.allowedTargets ?? []) {
    const cidr = parseCidr(entry);
    const name = entry.trim().toLowerCase().replace(/\.$/, '');
    if (cidr !== undefined) allowedRanges.push(cidr);
    else if (HOSTNAME.test(name) && !/^[\d.]+$/.test(name)) allowedHosts.add(name);
    else throw new TypeError(`"${entry}" is neither a hostname nor an IP address or CIDR range`);
  }
  return {
    allowHttp: options.allowHttp,
    allowedHosts,
    allowedRanges,
    resolver: options.resolver ?? systemResolver,
    resolveTimeoutMs: options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
  };
}

/** Names that only ever mean something on the inside: never a public webhook receiver. */
const BLOCKED_NAMES = new Set([
  'localhost',
  'metadata',
  'metadata.goog',
  'metadata.google.internal',
  'instance-data',
]);
const BLOCKED_SUFFIXES = ['.localhost', '.internal', '.local', '.home.arpa'];

/**
 * Everything that can be judged without DNS: the URL parses, is http(s) without credentials,
 * its host is no internal name, a literal IP in it (in any spelling the URL parser accepts:
 * `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`) is no blocked address, and http is allowed.
 * Use it to refuse a URL when it is registered; {@link resolveTarget} checks again at delivery.
 * Throws {@link OutboundRefused}.
 */
export function checkUrl(input: string | URL, policy: OutboundPolicy): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new OutboundRefused('invalid_url', 'the target is not a valid URL');
  }
  const host = url.hostname;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new OutboundRefused(
      'scheme',
      `${host || 'the target'}: only http(s) URLs are delivered to, not ${url.protocol}`,
      host,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new OutboundRefused(
      'userinfo',
      `${host}: credentials in the URL are refused (send them in a header instead)`,
      host,
    );
  }
  if (host === '') throw new OutboundRefused('invalid_url', 'the target URL has no host');
  const literal = parseIp(host);
  const byName = literal === undefined && allowedByName(host, policy);
  if (literal === undefined && !byName) {
    const name = host.replace(/\.$/, '');
    if (BLOCKED_NAMES.has(name) || BLOCKED_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
      throw new OutboundRefused(
        'blocked_host',
        `${host} is an internal name: deliveries may not go there unless it is allow-listed`,
        host,
      );
    }
  }
  if (literal !== undefined) judge(host, [literal], policy);
  // Plain http: development, a host allowed by name, or an address in an allowed range (known
  // now for a literal, after the lookup for a name).
  if (url.protocol === 'http:' && !policy.allowHttp && !byName) {
    const rangesLater = literal === undefined && policy.allowedRanges.length > 0;
    if (!rangesLater && !(literal !== undefined && inAllowedRange(literal, policy))) {
      throw httpRefused(host);
    }
  }
  return url;
}

/**
 * Checks `input` ({@link checkUrl}), resolves its host with the policy's resolver (once) and
 * refuses it if ANY address it resolves to is blocked, unless allow-listed. Returns the URL
 * and the first address, to be used for the connection ({@link pinnedRequest}).
 *
 * @example
 * ```ts
 * const target = await resolveTarget('https://hooks.example.com/in?token=...', policy);
 * // { url, address: '93.184.215.14', family: 4 }
 * ```
 */
export async function resolveTarget(
  input: string | URL,
  policy: OutboundPolicy,
): Promise<ResolvedTarget> {
  const url = checkUrl(input, policy);
  const host = url.hostname;
  const literal = parseIp(host);
  const addresses = literal === undefined ? await resolve(host, policy) : [literal];
  const byName = literal === undefined && allowedByName(host, policy);
  if (!byName) judge(host, addresses, policy);
  if (
    url.protocol === 'http:' && !policy.allowHttp && !byName &&
    !addresses.every((address) => inAllowedRange(address, policy))
  ) {
    throw httpRefused(host);
  }
  const pinned = unwrapMapped(addresses[0]!);
  return { url, address: formatIp(pinned), family: pinned.family };
}

function allowedByName(host: string, policy: OutboundPolicy): boolean {
  return policy.allowedHosts.has(host.replace(/\.$/, ''));
}

function inAllowedRange(address: IpAddress, policy: OutboundPolicy): boolean {
  const forms = [address, unwrapMapped(address)];
  return policy.allowedRanges.some((cidr) => forms.some((ip) => inCidr(ip, cidr)));
}

/** Throws for the first address that is blocked and not allow-listed. */
function judge(host: string, addresses: readonly IpAddress[], policy: OutboundPolicy): void {
  for (const address of addresses) {
    if (inAllowedRange(address, policy)) continue;
    const label = blockedRange(address);
    if (label === undefined) continue;
    const subject = parseIp(host) === undefined
      ? `${host} resolves to ${formatIp(address)}, which`
      : host;
    throw new OutboundRefused(
      'blocked_address',
      `${subject} is a blocked address (${label}): no deliveries there unless allow-listed`,
      host,
    );
  }
}

async function resolve(host: string, policy: OutboundPolicy): Promise<IpAddress[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${policy.resolveTimeoutMs} ms`)),
      policy.resolveTimeoutMs,
    );
  });
  let answers: readonly string[];
  try {
    answers = await Promise.race([policy.resolver(host), late]);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = typeof code === 'string' ? code : (error as Error).message;
    throw new OutboundRefused('unresolvable', `${host} does not resolve (${why})`, host);
  } finally {
    clearTimeout(timer);
  }
  const addresses = answers.map((answer) => parseIp(answer));
  if (addresses.length === 0 || addresses.some((address) => address === undefined)) {
    throw new OutboundRefused(
      'unresolvable',
      `${host} does not resolve to IP addresses (got ${answers.length} answers)`,
      host,
    );
  }
  return addresses as IpAddress[];
}

function httpRefused(host: string): OutboundRefused {
  return new OutboundRefused(
    'scheme',
    `${host}: plain http is refused, https only (unless the target is allow-listed)`,
    host,
  );
}
