/**
 * Redaction for log records. Every line the logger writes goes through `redact`, so a secret
 * that reaches a log call by accident (a header map, a connection string in an error message,
 * a provider payload) is replaced before it is written.
 */

/** What a secret is replaced with. */
export const REDACTED = '[REDACTED]';

/**
 * Words that make a key sensitive when they appear as one of its segments (`x-hub-signature-256`,
 * `accessToken`, `STRIPE_WEBHOOK_SECRET`). `token` has no plural on purpose: the rate limiter
 * speaks of bucket `tokens`, which are counts, not credentials.
 */
const SENSITIVE_WORDS = [
  'authorization',
  'cookies?',
  'passwords?',
  'passwd',
  'secrets?',
  'token',
  'api_?key',
  'signature',
  'sig',
  'private_key',
  'service_(?:role_)?key',
  'jwt',
  'credentials?',
];

const SENSITIVE_KEY = new RegExp(`(?:^|_)(?:${SENSITIVE_WORDS.join('|')})(?:_|$)`);

// Log records repeat the same few keys on every line; remembering the verdicts skips three
// regular expressions per key. Bounded, so keys from untrusted maps cannot grow it forever.
const sensitiveKeyVerdicts = new Map<string, boolean>();
const MAX_REMEMBERED_KEYS = 1_024;

/** True when a key (header name, field name, query parameter) names a secret. */
export function isSensitiveKey(key: string): boolean {
  let verdict = sensitiveKeyVerdicts.get(key);
  if (verdict === undefined) {
    verdict = classifyKey(key);
    if (sensitiveKeyVerdicts.size >= MAX_REMEMBERED_KEYS) sensitiveKeyVerdicts.clear();
    sensitiveKeyVerdicts.set(key, verdict);
  }
  return verdict;
}

function classifyKey(key: string): boolean {
  const normalized = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_');
  return SENSITIVE_KEY.test(normalized);
}

// Every pattern below starts behind a lookbehind for its own first character class and uses
// bounded repeats, so a hostile string cannot make it backtrack quadratically.
const WORDS_IN_TEXT = SENSITIVE_WORDS.map((word) => word.replaceAll('_', '[_-]')).join('|');

const STRING_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // scheme://user:password@host — keeps the user, which is useful and not secret.
  [
    /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:@/?#]{0,256}):[^\s@]{1,1024}@/gi,
    `$1:${REDACTED}@`,
  ],
  [/(?<![A-Za-z0-9])(Bearer\s+)[A-Za-z0-9\-._~+/]+=*/gi, `$1${REDACTED}`],
  // JWS compact serialisation: base64url(header).base64url(payload).signature, header `{"...`.
  [/(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // Stripe secret and restricted keys; publishable `pk_` keys are public by design.
  [/(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]+/g, `$1${REDACTED}`],
  // Stripe and Standard Webhooks signing secrets.
  [/(?<![A-Za-z0-9_])(whsec_)[A-Za-z0-9+/=_-]+/g, `$1${REDACTED}`],
  // Standard Webhooks signatures: `v1,<base64 HMAC>` and `v1a,<base64 ed25519>`.
  [/(?<![A-Za-z0-9])(v1a?,)[A-Za-z0-9+/]{16,}={0,2}/g, `$1${REDACTED}`],
  // Stripe `v1=`/`v0=` and Meta `sha256=` hex HMACs.
  [/(?<![A-Za-z0-9])((?:v[01]|sha256)=)[0-9a-f]{32,}/gi, `$1${REDACTED}`],
  // key=value / "key": "value" / ?access_token=... where the key names a secret.
  [
    new RegExp(
      `(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{0,64}?(?:${WORDS_IN_TEXT})(?:[_-][A-Za-z0-9]{1,20}){0,3})` +
        `(["']?\\s{0,4}[=:]\\s{0,4}["']?)((?:Bearer|Basic)\\s+)?[^\\s"'&,;]+`,
      'gi',
    ),
    `$1$2$3${REDACTED}`,
  ],
];

/**
 * Something every rule above needs to match: `:` (URLs, `key: value`), `=` (`key=value`,
 * `sha256=`), `,` (`v1,`), or one of the literal prefixes. Most logged strings (ids, routes,
 * methods, provider names) have none, and one scan of them replaces eight.
 */
const MIGHT_HOLD_A_SECRET = /[:=,]|bearer|eyj|_(?:live|test)_|whsec_/i;

/** Replaces secret-looking substrings of `text`: URL passwords, bearer tokens, JWTs, keys. */
export function redactString(text: string): string {
  if (!MIGHT_HOLD_A_SECRET.test(text)) return text;
  let result = text;
  for (const [pattern, replacement] of STRING_RULES) result = result.replace(pattern, replacement);
  return result;
}

/** Nesting beyond this is cut; log fields that deep are a bug, not data. */
const MAX_DEPTH = 16;

/**
 * Returns a JSON-safe copy of `value` with secrets replaced by `"[REDACTED]"`: values under a
 * sensitive key (any depth, case-insensitive) and secret-looking substrings of every string.
 * Errors become `{ name, message, stack, code?, cause? }`, bigints strings, `Headers` and
 * `Map`s plain objects, cycles `"[Circular]"`. The input is never mutated.
 *
 * @example
 * ```ts
 * redact({ headers: { authorization: 'Bearer abc' }, url: 'postgres://app:pw@db/app' });
 * // { headers: { authorization: '[REDACTED]' }, url: 'postgres://app:[REDACTED]@db/app' }
 * ```
 */
export function redact(value: unknown): unknown {
  return redactValue(value, new Set(), 0);
}

/**
 * `value` as it appears under `key` in `redact`'s output: `"[REDACTED]"` when the key names a
 * secret and the value is present, otherwise the value redacted. Strings, numbers and booleans
 * take no walk and no copy, so a logger can redact a flat record field by field.
 *
 * @example
 * ```ts
 * redactField('authorization', 'Bearer abc'); // '[REDACTED]'
 * redactField('route', '/webhooks/whatsapp'); // '/webhooks/whatsapp'
 * ```
 */
export function redactField(key: string, value: unknown): unknown {
  // An absent secret stays visible as absent: "no signature header" is worth seeing.
  if (value !== null && value !== undefined && isSensitiveKey(key)) return REDACTED;
  switch (typeof value) {
    case 'string':
      return redactString(value);
    case 'number':
    case 'boolean':
      return value;
    default:
      // A list of strings (event keys, ids): each redacted, without the walk's bookkeeping.
      if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
        return value.map(redactString);
      }
      // Depth 1: a field sits one level below the record `redact` would walk.
      return redactValue(value, new Set(), 1);
  }
}

function redactValue(value: unknown, ancestors: Set<object>, depth: number): unknown {
  switch (typeof value) {
    case 'string':
      return redactString(value);
    case 'bigint':
    case 'symbol':
      return value.toString();
    case 'function':
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Truncated]';
  ancestors.add(value);
  try {
    return redactObject(value, ancestors, depth + 1);
  } finally {
    ancestors.delete(value);
  }
}

function redactObject(value: object, ancestors: Set<object>, depth: number): unknown {
  const nested = (inner: unknown) => redactValue(inner, ancestors, depth);
  if (value instanceof Error) return serializeError(value, nested);
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  }
  if (value instanceof URL) return redactString(value.href);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return `[binary ${value.byteLength} bytes]`;
  }
  if (Array.isArray(value)) return value.map(nested);
  if (value instanceof Set) return [...value].map(nested);
  if (value instanceof Map || value instanceof Headers) {
    return redactEntries([...value.entries()].map(([k, v]) => [String(k), v]), nested);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return nested(toJSON.call(value));
  return redactEntries(Object.entries(value), nested);
}

function redactEntries(
  entries: Array<[string, unknown]>,
  nested: (value: unknown) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, inner] of entries) {
    out[key] = inner !== null && inner !== undefined && isSensitiveKey(key)
      ? REDACTED
      : nested(inner);
  }
  return out;
}

function serializeError(
  error: Error,
  nested: (value: unknown) => unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: redactString(String(error.name)),
    message: redactString(String(error.message)),
  };
  if (typeof error.stack === 'string') out.stack = redactString(error.stack);
  // Driver errors carry a SQLSTATE or errno in `code`; other own properties (postgres.js
  // attaches the query parameters) may hold payload data and stay out.
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (error.cause !== undefined) out.cause = nested(error.cause);
  if (error instanceof AggregateError) out.errors = nested(error.errors);
  return out;
}
