/**
 * Standard Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
 * - Headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, a
 *   space-separated list of `<version>,<signature>`; any `v1` entry may match, other
 *   versions are skipped (rotation and new schemes coexist in one header).
 * - `v1` is base64 HMAC-SHA256 of `<id>.<timestamp>.<raw body>` under the base64-decoded
 *   part of a `whsec_<base64>` secret.
 * - A timestamp more than five minutes old or ahead is refused (replay protection).
 *
 * The `standardwebhooks` package (1.1) decodes secrets and computes signatures. Its
 * `verify()` is not used: it reads `Date.now()`, so the clock could not be injected, and
 * `parseInt` accepts timestamp headers such as `1614265330abc`. The window, the header
 * parsing and the constant-time compare are done here instead.
 */
import { Webhook } from 'standardwebhooks';
import { decodeUtf8Exactly, timingSafeEqual } from '../../crypto/index.ts';
import { type HeaderSource, SignatureError } from '../types.ts';

export const STANDARD_TOLERANCE_SECONDS = 5 * 60;

const UNIX_SECONDS = /^[0-9]{1,12}$/;
const SIGNATURE_VERSION = 'v1';

/** What a verified delivery vouches for: its id (the de-duplication key) and send time. */
export interface VerifiedStandardWebhook {
  id: string;
  timestampSeconds: number;
}

/**
 * Verifies a Standard Webhooks delivery over its raw body, exactly as received. Any one of
 * `secrets` (`whsec_<base64>`) may have signed it, so secrets rotate without downtime.
 * Throws `SignatureError` on failure; a secret that is not valid base64 throws a plain
 * `Error` (a configuration fault, not the sender's).
 *
 * @example
 * ```ts
 * const { id } = verifyStandardWebhook(
 *   new Uint8Array(await request.arrayBuffer()),
 *   request.headers,
 *   config.standardSecrets[source],
 *   Math.floor(clock.now() / 1000),
 * );
 * ```
 */
export function verifyStandardWebhook(
  rawBody: Uint8Array,
  headers: HeaderSource,
  secrets: readonly string[],
  nowSeconds: number,
): VerifiedStandardWebhook {
  // Blank entries (a stray comma in the list) must never count as a configured secret.
  const usableSecrets = secrets.filter((secret) => secret.trim() !== '');
  if (usableSecrets.length === 0) throw new SignatureError('no_secret_configured');

  const id = headers.get('webhook-id');
  const timestampHeader = headers.get('webhook-timestamp');
  const signatureHeader = headers.get('webhook-signature');
  if (!id || !timestampHeader || !signatureHeader) throw new SignatureError('missing_header');

  if (!UNIX_SECONDS.test(timestampHeader)) {
    throw new SignatureError('malformed_header', 'webhook-timestamp is not unix seconds');
  }
  const timestampSeconds = Number(timestampHeader);
  if (nowSeconds - timestampSeconds > STANDARD_TOLERANCE_SECONDS) {
    throw new SignatureError('timestamp_too_old');
  }
  if (timestampSeconds - nowSeconds > STANDARD_TOLERANCE_SECONDS) {
    throw new SignatureError('timestamp_in_future');
  }

  const received = readV1Signatures(signatureHeader);
  // The package signs text; only an exact decode makes that text stand for these bytes.
  const payload = decodeUtf8Exactly(rawBody);
  if (payload === null) {
    throw new SignatureError('signature_mismatch', 'body is not exact UTF-8');
  }

  const signedAt = new Date(timestampSeconds * 1000);
  let verified = false;
  for (const webhook of usableSecrets.map(webhookFor)) {
    const expected = webhook.sign(id, signedAt, payload).slice(`${SIGNATURE_VERSION},`.length);
    // No early exit: the time taken does not reveal which entry or secret matched.
    for (const signature of received) {
      verified = timingSafeEqual(expected, signature) || verified;
    }
  }
  if (!verified) throw new SignatureError('signature_mismatch');
  return { id, timestampSeconds };
}

function readV1Signatures(header: string): string[] {
  const signatures: string[] = [];
  for (const entry of header.split(' ')) {
    const separator = entry.indexOf(',');
    if (separator <= 0) continue; // empty (doubled space) or not `<version>,<value>`
    if (entry.slice(0, separator) !== SIGNATURE_VERSION) continue;
    const signature = entry.slice(separator + 1);
    if (signature !== '') signatures.push(signature);
  }
  if (signatures.length === 0) {
    throw new SignatureError('malformed_header', 'no v1 signature in webhook-signature');
  }
  return signatures;
}

function webhookFor(secret: string): Webhook {
  try {
    return new Webhook(secret);
  } catch {
    // The library's message is generic; never include the secret itself.
    throw new Error('a Standard Webhooks secret is not whsec_<base64>');
  }
}
