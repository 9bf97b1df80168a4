/**
 * Field rules shared by the providers' schemas, and the one way a failed parse becomes a
 * 400 detail that names the field at fault.
 *
 * Why ids are bounded: a key is stored in unique btree indexes (`inbound_events` on
 * provider + key, `jobs.dedupe_key` as `inbound:<provider>:<key>`, a sender's bucket in
 * `rate_limits`), and Postgres refuses an index row over about 2.7 kB (54000). Every limit
 * here keeps a key well under 1 kB.
 */
import { z } from 'zod';
import { MalformedPayloadError } from './types.ts';

/** Visible ASCII (U+0021 to U+007E): what provider ids are made of. No space, no control. */
export const VISIBLE_ASCII = /^[\x21-\x7e]*$/;

/**
 * A provider id or name used in a key: 1 to `maxChars` visible ASCII characters.
 *
 * @example
 * ```ts
 * const event = z.looseObject({ id: identifier(STRIPE_EVENT_ID_MAX_CHARS) });
 * ```
 */
export function identifier(maxChars: number) {
  return z.string()
    .min(1, 'must not be empty')
    .max(maxChars, `must be at most ${maxChars} characters`)
    .regex(VISIBLE_ASCII, 'must be visible ASCII (no spaces or control characters)');
}

/**
 * True when `value` passes {@link identifier}`(maxChars)`: for a provider's hand-written
 * check of its common shape, which must refuse whatever the schema refuses.
 */
export function isIdentifier(value: unknown, maxChars: number): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= maxChars &&
    VISIBLE_ASCII.test(value);
}

/**
 * The first issue of a failed parse as `<path> <message>`, e.g.
 * `entry[0].changes[1].field must not be empty`; `prefix` is where the parsed value sat.
 * Only schema names and indexes appear, never a value the sender chose.
 */
export function describeIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  if (!issue) return prefix || 'body';
  const path = issue.path.reduce<string>(
    (at, segment) => typeof segment === 'number' ? `${at}[${segment}]` : joinPath(at, segment),
    prefix,
  );
  return `${path || 'body'} ${issue.message}`;
}

function joinPath(at: string, segment: PropertyKey): string {
  const name = String(segment);
  return at ? `${at}.${name}` : name;
}

/**
 * Parses `value` with `schema`, or throws MalformedPayloadError whose message says what the
 * body was meant to be and which field is wrong.
 *
 * @example
 * ```ts
 * const event = parseOrRefuse(stripeEvent, body, 'not a Stripe event');
 * // throws MalformedPayloadError('not a Stripe event: id must not be empty')
 * ```
 */
export function parseOrRefuse<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  prefix = '',
): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new MalformedPayloadError(`${what}: ${describeIssue(parsed.error, prefix)}`);
  }
  return parsed.data;
}
