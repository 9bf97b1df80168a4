/**
 * Africa's Talking USSD callbacks carry no signature, so the gate is what the operator can
 * make secret or narrow: a token in the callback path (registered as part of the callback
 * URL in the Africa's Talking dashboard) and the addresses their gateway calls from.
 */
import { z } from 'zod';
import { timingSafeIncludes } from '../../crypto/index.ts';
import { identifier } from '../events/fields.ts';
import { SignatureError } from '../types.ts';
import { ipMatches, parseIpRule } from '../../net/ip-rules.ts';

export interface UssdGateOptions {
  /** Secret path segments; any one admits (rotation). Empty: no token check. */
  pathTokens: readonly string[];
  /** Client addresses: IPv4 (`196.201.214.10`), IPv4 CIDR (`196.201.214.0/24`) or IPv6. */
  allowedIps: readonly string[];
}

/** Which part of the gate refused a callback, so the route can answer accordingly. */
export type UssdGatePart = 'configuration' | 'path_token' | 'client_ip';

/** A refused USSD callback: a `SignatureError` that also says which check failed. */
export class UssdGateError extends SignatureError {
  constructor(
    readonly part: UssdGatePart,
    reason: 'no_secret_configured' | 'missing_header' | 'signature_mismatch',
    message?: string,
  ) {
    super(reason, message);
  }
}

export interface UssdGate {
  /**
   * Returns when the callback is admitted; throws `UssdGateError` otherwise. `pathToken` is
   * the path segment after `/ussd/` (undefined on `POST /ussd`).
   */
  check(pathToken: string | undefined, clientIp: string | undefined): void;
}

/**
 * Builds the gate. With tokens configured the path token must match one; with addresses
 * configured the client must be one; with both, both. With neither, every callback is
 * refused (`no_secret_configured`): an open USSD endpoint would let anyone drive sessions.
 * A path token presented when none is configured is refused too: the token route exists
 * only when tokens do. Throws `TypeError` at build time for an entry that is not an address.
 *
 * @example
 * ```ts
 * const gate = createUssdGate({ pathTokens: ['k7Qx...'], allowedIps: ['196.201.214.0/24'] });
 * gate.check(c.req.param('token'), clientIp); // throws UssdGateError
 * ```
 */
export function createUssdGate(options: UssdGateOptions): UssdGate {
  const tokens = options.pathTokens.filter((token) => token.length > 0);
  const rules = options.allowedIps.map((entry) => {
    try {
      return parseIpRule(entry);
    } catch (error) {
      throw new TypeError(`allowedIps: ${(error as Error).message}`);
    }
  });

  return {
    check(pathToken, clientIp) {
      if (tokens.length === 0 && rules.length === 0) {
        throw new UssdGateError('configuration', 'no_secret_configured');
      }
      if (tokens.length > 0) {
        if (!pathToken) throw new UssdGateError('path_token', 'missing_header', 'path token');
        if (!timingSafeIncludes(tokens, pathToken)) {
          throw new UssdGateError('path_token', 'signature_mismatch', 'path token');
        }
      } else if (pathToken !== undefined) {
        throw new UssdGateError('path_token', 'signature_mismatch', 'no path token configured');
      }
      if (rules.length > 0) {
        const address = clientIp?.trim();
        if (!address) throw new UssdGateError('client_ip', 'missing_header', 'client ip');
        if (!rules.some((rule) => ipMatches(rule, address))) {
          // The address is the caller's own, not a secret: it may be logged.
          throw new UssdGateError('client_ip', 'signature_mismatch', `client ip ${address}`);
        }
      }
    },
  };
}

// --- The callback form ---

// Limits, in characters. A completed action is stored under the key `<sessionId>:<text>`
// (unique btree indexes refuse rows over about 2.7 kB): at most 128 + 1 + 512 characters,
// under 1.7 kB of UTF-8 however the text is written. Ids are visible ASCII (fields.ts).

/** Longest `sessionId` (Africa's Talking's `ATUid_…`, about 40 characters). */
export const USSD_SESSION_ID_MAX_CHARS = 128;
/** Longest `serviceCode` (the dialled code, e.g. `*384*1234#`). */
export const USSD_SERVICE_CODE_MAX_CHARS = 64;
/** Longest `networkCode` (the operator's MCC and MNC, e.g. `63902`). */
export const USSD_NETWORK_CODE_MAX_CHARS = 32;
/**
 * Longest `text`, in UTF-16 code units (a character outside the BMP counts two): a USSD
 * screen takes at most 182 characters of input, and a session a few screens.
 */
export const USSD_TEXT_MAX_CHARS = 512;

// Control characters (NUL included, which Postgres cannot store in text) and lone
// surrogates have no business in what a handset sends.
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}\p{Cs}]*$/u;

/**
 * The fields Africa's Talking posts (application/x-www-form-urlencoded) on every step of a
 * session. `text` is everything the user typed so far, joined by `*`: empty on the first
 * request of a session.
 */
export const ussdFormSchema = z.object({
  sessionId: identifier(USSD_SESSION_ID_MAX_CHARS),
  serviceCode: identifier(USSD_SERVICE_CODE_MAX_CHARS),
  // E.164: a + and at most 15 digits, the first (country code) not 0.
  phoneNumber: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be + followed by 7 to 15 digits'),
  networkCode: identifier(USSD_NETWORK_CODE_MAX_CHARS),
  text: z.string()
    .max(USSD_TEXT_MAX_CHARS, `must be at most ${USSD_TEXT_MAX_CHARS} characters`)
    .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters'),
});

export type UssdForm = z.infer<typeof ussdFormSchema>;

export interface UssdFormIssue {
  field: string;
  message: string;
}

/**
 * The callback form is not what Africa's Talking sends; `issues` names the fields at fault
 * (the route answers 400 with them).
 */
export class UssdFormError extends Error {
  override readonly name = 'UssdFormError';
  constructor(readonly issues: readonly UssdFormIssue[]) {
    super(`invalid USSD callback: ${issues.map((issue) => issue.field).join(', ')}`);
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
 * parseUssdForm('sessionId=x'); // throws UssdFormError naming the fields
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
    const issues = new Map<string, UssdFormIssue>();
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? '(form)');
      // One issue per field: the first check it failed (a field may fail several).
      if (issues.has(field)) continue;
      const value = fields[field];
      const message = value === undefined
        ? 'is required'
        : Array.isArray(value)
        ? 'must appear once'
        : issue.message;
      issues.set(field, { field, message });
    }
    throw new UssdFormError([...issues.values()]);
  }
  return parsed.data;
}
