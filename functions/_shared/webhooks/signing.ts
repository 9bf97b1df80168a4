/**
 * How providers sign their deliveries, for whoever plays a provider (`gatehouse send`, the
 * tests): each returns the headers a real delivery of `body` would carry. They compute
 * signatures with the project's own HMAC, independently of the libraries the verifiers
 * use, so a test cannot pass by a library agreeing with itself.
 */
import { hmacSha256, toBytes, toHex } from '../crypto/index.ts';
import { concatBytes } from '../streams/index.ts';

/**
 * Headers of a WhatsApp (Meta) delivery: `X-Hub-Signature-256: sha256=<hex>` over the body.
 *
 * @example
 * ```ts
 * const body = '{"object":"whatsapp_business_account","entry":[]}';
 * const headers = signWhatsApp(body, 'app-secret');
 * await app.request('/webhooks/whatsapp', { method: 'POST', body, headers });
 * ```
 */
export function signWhatsApp(
  body: string | Uint8Array,
  appSecret: string,
): Record<string, string> {
  return { 'X-Hub-Signature-256': `sha256=${toHex(hmacSha256(appSecret, body))}` };
}

/**
 * Headers of a Stripe delivery: `Stripe-Signature: t=<seconds>,v1=<hex>` where v1 signs
 * `<t>.<body>` under the endpoint secret used as text (Stripe does not decode `whsec_`).
 *
 * @example
 * ```ts
 * const headers = signStripe(body, 'whsec_test', Math.floor(Date.now() / 1000));
 * ```
 */
export function signStripe(
  body: string | Uint8Array,
  secret: string,
  timestampSeconds: number,
): Record<string, string> {
  const signed = concatBytes([toBytes(`${timestampSeconds}.`), toBytes(body)]);
  const v1 = toHex(hmacSha256(secret, signed));
  return { 'Stripe-Signature': `t=${timestampSeconds},v1=${v1}` };
}

/**
 * Headers of a Standard Webhooks delivery: v1 is base64 HMAC-SHA256 of
 * `<id>.<timestamp>.<body>` under the base64-decoded part of a `whsec_<base64>` secret.
 *
 * @example
 * ```ts
 * const headers = signStandard('msg_1', nowSeconds, body, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
 * ```
 */
export function signStandard(
  id: string,
  timestampSeconds: number,
  body: string | Uint8Array,
  secret: string,
): Record<string, string> {
  const key = fromBase64(secret.replace(/^whsec_/, ''));
  const signed = concatBytes([toBytes(`${id}.${timestampSeconds}.`), toBytes(body)]);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${toBase64(hmacSha256(key, signed))}`,
  };
}

/** Standard base64 of bytes (btoa works on one char per byte). */
export function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/** Bytes of standard base64. */
export function fromBase64(base64: string): Uint8Array {
  return Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
}
