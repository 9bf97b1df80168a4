/**
 * Africa's Talking USSD callbacks carry no signature, so the gate is what the operator can
 * make secret or narrow: a token in the callback path (registered as part of the callback
 * URL in the Africa's Talking dashboard) and the addresses their gateway calls from.
 */
import { z } from 'zod';
import { timingSafeEqual } from '../crypto/index.ts';
import { ProblemError } from '../http/problem.ts';
import { SignatureError } from './types.ts';

export interface UssdGateOptions {
  /** Secret path segments; any one admits (rotation). Empty: no token check. */
  pathTokens: readonly string[];
  /** Client addresses: IPv4 (`196.201.214.10`), IPv4 CIDR (`196.201.214.0/24`) or IPv6. */
  allowedIps: readonly string[];
}

export interface UssdGate {
  /** Returns when the callback is admitted; throws `SignatureError` otherwise. */
  check(pathToken: string | undefined, clientIp: string | undefined): void;
}

/**
 * Builds the gate. With tokens configured the path token must match one; with addresses
 * configured the client must be one; with both, both. With neither, every callback is
 * refused (`no_secret_configured`): an open USSD endpoint would let anyone drive sessions.
 *
 * @example
 * ```ts
 * const gate = createUssdGate({ pathTokens: ['k7Qx...'], allowedIps: ['196.201.214.0/24'] });
 * gate.check(c.req.param('token'), clientIp); // throws SignatureError
 * ```
 */
export function createUssdGate(options: UssdGateOptions): UssdGate {
  const tokens = options.pathTokens.filter((token) => token.length > 0);
  const rules = options.allowedIps.map(parseIpRule);

  return {
    check(pathToken, clientIp) {
      if (tokens.length === 0 && rules.length === 0) {
        throw new SignatureError('no_secret_configured');
      }
      if (tokens.length > 0) {
        if (!pathToken) throw new SignatureError('missing_header', 'path token');
        let matched = false;
        // Compare against every token, so timing does not tell which (or whether one) matched.
        for (const token of tokens) matched = timingSafeEqual(pathToken, token) || matched;
        if (!matched) throw new SignatureError('signature_mismatch', 'path token');
      }
      if (rules.length > 0) {
        const address = clientIp?.trim();
        if (!address) throw new SignatureError('missing_header', 'client ip');
        if (!rules.some((rule) => ipMatches(rule, address))) {
          throw new SignatureError('signature_mismatch', `client ip ${address}`);
        }
      }
    },
  };
}

type IpRule =
  | { kind: 'ipv4'; network: number; mask: number }
  | { kind: 'ipv6'; address: string };

/** A configured address or range; a typo fails at start, not as a silent never-match. */
function parseIpRule(entry: string): IpRule {
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
  throw new TypeError(`allowedIps: "${entry}" is not an IPv4 address, IPv4 CIDR or IPv6 address`);
}

function ipMatches(rule: IpRule, clientIp: string): boolean {
  // Dual-stack listeners report IPv4 clients as IPv4-mapped IPv6 (::ffff:196.201.214.10).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(clientIp)?.[1];
  if (rule.kind === 'ipv4') {
    const ipv4 = parseIpv4(mapped ?? clientIp);
    return ipv4 !== undefined && ((ipv4 & rule.mask) >>> 0) === rule.network;
  }
  return mapped === undefined && canonicalIpv6(clientIp) === rule.address;
}

/** Dotted quad to a 32-bit number; leading zeros are refused (some parsers read them as octal). */
function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => /^(?:0|[1-9]\d{0,2})$/.test(part))) {
    return undefined;
  }
  const octets = parts.map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
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

// --- The callback form ---

/**
 * The fields Africa's Talking posts (application/x-www-form-urlencoded) on every step of a
 * session. `text` is everything the user typed so far, joined by `*`: empty on the first
 * request of a session.
 */
export const ussdFormSchema = z.object({
  sessionId: z.string().min(1, 'must not be empty'),
  serviceCode: z.string().min(1, 'must not be empty'),
  // E.164: a + and at most 15 digits, the first (country code) not 0.
  phoneNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be + followed by 7 to 15 digits'),
  networkCode: z.string().min(1, 'must not be empty'),
  text: z.string(),
});

export type UssdForm = z.infer<typeof ussdFormSchema>;

export interface UssdFormIssue {
  field: string;
  message: string;
}

/** The callback form is not what Africa's Talking sends: answer 400 with the fields at fault. */
export class UssdFormError extends ProblemError {
  readonly issues: readonly UssdFormIssue[];
  constructor(issues: readonly UssdFormIssue[]) {
    super(400, {
      detail: `invalid USSD callback: ${issues.map((issue) => issue.field).join(', ')}`,
      extensions: { errors: issues },
    });
    this.issues = issues;
  }
}

const USSD_FIELDS = Object.keys(ussdFormSchema.shape) as (keyof UssdForm)[];

/**
 * Parses and validates a USSD callback body.
 *
 * @example
 * ```ts
 * const form = parseUssdForm('sessionId=ATUid_1&serviceCode=*384*1%23&phoneNumber=%2B254711000111&networkCode=63902&text=1*2');
 * form.text; // '1*2'
 * parseUssdForm('sessionId=x'); // throws UssdFormError (400)
 * ```
 */
export function parseUssdForm(body: string): UssdForm {
  const params = new URLSearchParams(body);
  const fields: Record<string, unknown> = {};
  for (const field of USSD_FIELDS) {
    const values = params.getAll(field);
    // A repeated field is ambiguous (which one would other readers take?): refuse it.
    fields[field] = values.length > 1 ? values : values[0];
  }
  const parsed = ussdFormSchema.safeParse(fields);
  if (!parsed.success) {
    throw new UssdFormError(parsed.error.issues.map((issue) => {
      const field = String(issue.path[0] ?? '(form)');
      const value = fields[field];
      const message = value === undefined
        ? 'is required'
        : Array.isArray(value)
        ? 'must appear once'
        : issue.message;
      return { field, message };
    }));
  }
  return parsed.data;
}
