/**
 * Stripe webhooks: `Stripe-Signature` verified by Stripe's own library, with the checks it
 * leaves out done here first.
 *
 * Stripe's rules (https://docs.stripe.com/webhooks#verify-manually):
 * - The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`; `v1` is
 *   HMAC-SHA256 of `<t>.<raw body>` under the endpoint secret. Several `v1` appear while a
 *   secret is being rolled, and any one may match; `v0` is a test scheme and is ignored.
 * - Timestamps guard against replay; Stripe's libraries default to five minutes.
 *
 * What the library (stripe 23) does not do, and why it is done here:
 * - It rejects only timestamps that are too old; one far in the future passes. Both ways
 *   are checked here, against the injected clock, before the library runs.
 * - Given bytes, it decodes them leniently (invalid UTF-8 becomes U+FFFD, a leading BOM is
 *   dropped) and verifies the decoded text, so bytes Stripe never signed could pass. The
 *   body is decoded here exactly, and a body that is not exact UTF-8 is refused.
 */
import Stripe from 'stripe';
import { decodeUtf8Exactly } from '../../crypto/index.ts';
import { SignatureError } from '../types.ts';

export const STRIPE_SIGNATURE_HEADER = 'Stripe-Signature';

export const STRIPE_TOLERANCE_SECONDS = 5 * 60;

// Web Crypto, so the same module runs under Deno and Node; no API key or network needed.
const subtleCrypto = Stripe.createSubtleCryptoProvider();

const UNIX_SECONDS = /^[0-9]{1,12}$/;

/**
 * Verifies a Stripe delivery over its raw body, exactly as received, and returns the
 * event. Any one of `secrets` may have signed it (rotation). Throws `SignatureError` on any
 * failure; a correctly signed body that is not a JSON event throws the parser's error (a
 * malformed request, not a signature failure).
 *
 * @example
 * ```ts
 * const event = await verifyStripeSignature(
 *   new Uint8Array(await request.arrayBuffer()),
 *   request.headers.get(STRIPE_SIGNATURE_HEADER),
 *   config.stripeWebhookSecrets,
 *   Math.floor(clock.now() / 1000),
 * );
 * event.id; // 'evt_...', the de-duplication key
 * ```
 */
export async function verifyStripeSignature(
  rawBody: Uint8Array,
  header: string | null,
  secrets: readonly string[],
  nowSeconds: number,
): Promise<Stripe.Event> {
  // Blank entries (a stray comma in the list) must never count as a configured secret.
  const usableSecrets = secrets.filter((secret) => secret.trim() !== '');
  if (usableSecrets.length === 0) throw new SignatureError('no_secret_configured');
  if (header === null || header === '') throw new SignatureError('missing_header');

  checkTimestamp(readSignedTimestamp(header), nowSeconds);

  const payload = decodeUtf8Exactly(rawBody);
  if (payload === null) {
    throw new SignatureError('signature_mismatch', 'body is not exact UTF-8');
  }

  for (const secret of usableSecrets) {
    try {
      return await Stripe.webhooks.constructEventAsync(
        payload,
        header,
        secret,
        STRIPE_TOLERANCE_SECONDS,
        subtleCrypto,
        nowSeconds * 1000, // the library reads `receivedAt` in milliseconds
      );
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) throw error;
      // Unreachable after checkTimestamp unless the two disagree; kept so they cannot.
      if (error.message.includes('tolerance')) throw new SignatureError('timestamp_too_old');
      // Otherwise this secret did not sign it: try the next one.
    }
  }
  throw new SignatureError('signature_mismatch');
}

/** The `t=` of a well-formed header, which must also carry at least one `v1=`. */
function readSignedTimestamp(header: string): number {
  let timestamp: number | null = null;
  let hasV1 = false;
  for (const item of header.split(',')) {
    const separator = item.indexOf('=');
    if (separator <= 0) throw new SignatureError('malformed_header', 'expected key=value items');
    const key = item.slice(0, separator);
    const value = item.slice(separator + 1);
    if (key === 't') {
      // Two timestamps would leave it to the library which one counts.
      if (timestamp !== null || !UNIX_SECONDS.test(value)) {
        throw new SignatureError('malformed_header', 'expected one t=<unix seconds>');
      }
      timestamp = Number(value);
    }
    if (key === 'v1' && value !== '') hasV1 = true;
  }
  if (timestamp === null) throw new SignatureError('malformed_header', 'no t=');
  if (!hasV1) throw new SignatureError('malformed_header', 'no v1 signature');
  return timestamp;
}

function checkTimestamp(timestampSeconds: number, nowSeconds: number): void {
  if (nowSeconds - timestampSeconds > STRIPE_TOLERANCE_SECONDS) {
    throw new SignatureError('timestamp_too_old');
  }
  if (timestampSeconds - nowSeconds > STRIPE_TOLERANCE_SECONDS) {
    throw new SignatureError('timestamp_in_future');
  }
}
