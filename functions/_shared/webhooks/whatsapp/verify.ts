/**
 * WhatsApp (Meta Cloud API) webhooks: the payload signature of POST deliveries and the
 * GET subscription handshake.
 *
 * Meta's rules (https://developers.facebook.com/docs/graph-api/webhooks/getting-started,
 * "Validate Payloads" and "Verification Requests"):
 * - `X-Hub-Signature-256: sha256=<hex>` is HMAC-SHA256 of the body under the app secret.
 * - The signature covers the body as sent, where non-ASCII text is escaped (`äöå` travels
 *   as `\u00e4\u00f6\u00e5`). Parsing and re-serialising turns the escapes back into
 *   characters and changes the bytes, so only the raw body can be verified.
 * - The handshake is `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`; the app
 *   proves it owns the endpoint by answering the challenge.
 */
import { hmacSha256Hex, timingSafeEqual, timingSafeIncludes } from '../../crypto/index.ts';
import { SignatureError } from '../types.ts';

export const WHATSAPP_SIGNATURE_HEADER = 'X-Hub-Signature-256';

const SIGNATURE_PREFIX = 'sha256=';
/** `sha256=` and the 32 bytes of an HMAC-SHA256 in hex, either case. */
const SIGNATURE = /^sha256=[0-9a-fA-F]{64}$/;

/**
 * Checks a delivery's `X-Hub-Signature-256` against the raw body, exactly as received.
 * Any one of `appSecrets` may have signed it, so an app secret rotates without downtime.
 * Returns when it verifies; otherwise throws `SignatureError` (never returns false).
 *
 * @example
 * ```ts
 * const rawBody = new Uint8Array(await request.arrayBuffer());
 * verifyWhatsAppSignature(
 *   rawBody,
 *   request.headers.get(WHATSAPP_SIGNATURE_HEADER),
 *   config.whatsappAppSecrets,
 * );
 * const payload = JSON.parse(new TextDecoder().decode(rawBody)); // only now
 * ```
 */
export function verifyWhatsAppSignature(
  rawBody: Uint8Array,
  header: string | null,
  appSecrets: readonly string[],
): void {
  const secrets = appSecrets.filter(isUsableSecret);
  if (secrets.length === 0) throw new SignatureError('no_secret_configured');
  if (header === null || header === '') throw new SignatureError('missing_header');

  if (!SIGNATURE.test(header)) {
    throw new SignatureError('malformed_header', 'expected sha256=<64 hex digits>');
  }
  // Compared as lowercase hex, as the hash encodes it: `AB` and `ab` are the same byte.
  const received = header.slice(SIGNATURE_PREFIX.length).toLowerCase();

  let verified = false;
  for (const secret of secrets) {
    // No early exit: the time taken does not reveal which secret (if any) matched.
    verified = timingSafeEqual(hmacSha256Hex(secret, rawBody), received) || verified;
  }
  if (!verified) throw new SignatureError('signature_mismatch');
}

/**
 * Answers Meta's GET verification request: returns the `hub.challenge` to echo back when
 * `hub.mode` is `subscribe` and `hub.verify_token` equals one of `verifyTokens`; otherwise
 * null (the caller answers 403). With no usable token configured nothing verifies.
 *
 * @example
 * ```ts
 * const challenge = verifyWhatsAppSubscription(new URL(c.req.url).searchParams, tokens);
 * return challenge === null ? c.text('Forbidden', 403) : c.text(challenge, 200);
 * ```
 */
export function verifyWhatsAppSubscription(
  query: URLSearchParams,
  verifyTokens: readonly string[],
): string | null {
  const mode = query.get('hub.mode');
  const token = query.get('hub.verify_token');
  const challenge = query.get('hub.challenge');
  if (mode !== 'subscribe' || token === null || challenge === null) return null;

  return timingSafeIncludes(verifyTokens.filter(isUsableSecret), token) ? challenge : null;
}

// A blank secret (a stray comma in a list variable) would let anyone sign with the empty
// key, and a blank verify token would match an empty `hub.verify_token`: never use one.
function isUsableSecret(secret: string): boolean {
  return secret.trim() !== '';
}
